"""Golden tests: `.sbir` inputs through `sbcompile IN ARGS --emit ir`, compared with expected files."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Callable

import pytest

from sbcompile.cli import main

GOLDEN = Path(__file__).parent / "golden"


def run_args(path: Path) -> list[str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("// RUN:"), f"{path} must start with a // RUN: line"
    return shlex.split(first[len("// RUN:"):])


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.sbir")), ids=lambda p: p.stem)
def test_golden(path: Path, capsys: pytest.CaptureFixture[str], golden: Callable[[Path, str], None]) -> None:
    assert main([str(path), *run_args(path), "--emit", "ir"]) == 0
    golden(path.with_suffix(".expected"), capsys.readouterr().out)
