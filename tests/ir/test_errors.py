"""Malformed text gives `file:line:col: message` on stderr and exit status 1, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

GOOD = """module @m {
  %x = io.input() {name = "x"} : tensor<[seq, 4], f32>
  %y = nn.relu(%x) : tensor<[seq, 4], f32>
  output %y
}
"""

CASES = {
    "truncated": (GOOD[: GOOD.index("output")], r"bad\.sbir:4:3: error: unexpected end of file"),
    "unknown_op": (GOOD.replace("nn.relu", "nn.frobnicate"), r"bad\.sbir:3:8: error: unknown op 'nn\.frobnicate'"),
    "wrong_param_type": (GOOD.replace("nn.relu(%x)", "nn.scale(%x) {factor = \"big\"}"),
                         r"bad\.sbir:3:22: error: nn\.scale: parameter 'factor' should be a valid number, got 'big'"),
    "use_before_def": (GOOD.replace("nn.relu(%x)", "nn.relu(%z)"),
                       r"bad\.sbir:3:16: error: use of undefined value '%z'"),
    "type_mismatch": (GOOD.replace("%y = nn.relu(%x) : tensor<[seq, 4]", "%y = nn.relu(%x) : tensor<[seq, 5]"),
                      r"bad\.sbir:3:3: error: nn\.relu \(%y\): type mismatch: result %y is written tensor<\[seq, 5\], f32> "
                      r"but the op produces tensor<\[seq, 4\], f32>"),
    "bad_character": (GOOD.replace("%y = nn", "%y = #nn"), r"bad\.sbir:3:8: error: unexpected character '#'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_text(case: str, tmp_path: Path) -> None:
    text, expected = CASES[case]
    path = tmp_path / "bad.sbir"
    path.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "sbcompile", str(path)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    import re

    assert re.match(str(tmp_path).replace("\\", "\\\\") + "/" + expected, lines[0]), lines[0]


def test_good_text_parses(tmp_path: Path) -> None:
    path = tmp_path / "good.sbir"
    path.write_text(GOOD)
    proc = subprocess.run([sys.executable, "-m", "sbcompile", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == GOOD
