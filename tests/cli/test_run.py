"""`sbcompile run`: prefill, greedy generation, saved logits and activity, on the ref target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sbcompile.artifact import write_module
from sbcompile.cli import main
from sbcompile.ir.interpreter import Interpreter
from tests.targets.handmade import tiny_lm


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    write_module(tiny_lm(), src)
    out = tmp_path / "out"
    assert main([str(src / "module.sbir"), "-t", "ref", "-o", str(out)]) == 0
    return out


def test_run_text_generate_and_save_logits(artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logits_path = tmp_path / "logits.npy"
    assert main(["run", str(artifact), "--text", "abc", "--generate", "4", "--save-logits", str(logits_path),
                 "--stats"]) == 0
    cap = capsys.readouterr()
    logits = np.load(logits_path)
    assert logits.shape == (3 + 3, 256)
    # the same module through the interpreter directly: prefill of the prompt plus what was generated
    tokens = list(b"abc")
    want = Interpreter(tiny_lm())(tokens=np.array(tokens, np.int32))[0]
    np.testing.assert_array_equal(logits[:3], want)
    generated = [int(np.argmax(logits[i])) for i in range(2, 6)]
    full = Interpreter(tiny_lm())(tokens=np.array(tokens + generated[:3], np.int32))[0]
    np.testing.assert_allclose(logits, full, rtol=1e-5, atol=1e-5)
    assert cap.out == "abc" + bytes(generated).decode("utf-8", errors="replace") + "\n"  # the prompt echoed
    assert "sparsity" in cap.err and "prefill 3 tokens" in cap.err


def test_run_tokens_file(artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.txt").write_text("1 2\n3")
    assert main(["run", str(artifact), "--tokens", str(tmp_path / "t.txt"), "--generate", "1"]) == 0
    assert capsys.readouterr().out.strip() != ""
    (tmp_path / "bad.txt").write_text("1 x")
    assert main(["run", str(artifact), "--tokens", str(tmp_path / "bad.txt")]) == 1
    assert "bad.txt: cannot read token ids" in capsys.readouterr().err
    (tmp_path / "big.txt").write_text("300")
    assert main(["run", str(artifact), "--tokens", str(tmp_path / "big.txt")]) == 1
    assert "token ids must lie in [0, 256)" in capsys.readouterr().err


def test_run_needs_an_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path), "--text", "x"]) == 1
    assert "not an sbcompile output directory" in capsys.readouterr().err
