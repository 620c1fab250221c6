"""Golden tests: `.sbir` inputs through `sbcompile IN ARGS --emit ir`, compared with expected files."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from sbcompile.cli import main

GOLDEN = Path(__file__).parent / "golden"


def run_args(path: Path) -> list[str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("// RUN:"), f"{path} must start with a // RUN: line"
    return shlex.split(first[len("// RUN:"):])


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.sbir")), ids=lambda p: p.stem)
def test_golden(path: Path, capsys: pytest.CaptureFixture[str], update_goldens: bool) -> None:
    assert main([str(path), *run_args(path), "--emit", "ir"]) == 0
    got = capsys.readouterr().out
    expected = path.with_suffix(".expected")
    if update_goldens or not expected.exists():
        expected.write_text(got)
    assert got == expected.read_text(), f"output differs from {expected}; rerun with --update-goldens if intended"
