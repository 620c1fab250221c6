"""Per-pass FileCheck tests: each `filecheck/<pass>.sbir` starts with `// RUN: ARGS` (`%S` is its
folder), is compiled with `sbcompile FILE ARGS --emit ir`, and its `// CHECK` lines are matched
against the printed IR. Every pass that `--list-passes` lists has one."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from sbcompile.cli import main
from sbcompile.passes import REGISTRY

from .filecheck import CheckFailure, filecheck, read_checks

CASES = Path(__file__).parent / "filecheck"
EXAMPLE_PLUGIN = Path(__file__).parents[2] / "examples" / "custom_pass"  # its pass, installed or not


def run_args(path: Path) -> list[str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("// RUN:"), f"{path} must start with a // RUN: line"
    return [a.replace("%S", str(path.parent)) for a in shlex.split(first[len("// RUN:"):])]


@pytest.mark.parametrize("path", sorted(CASES.glob("*.sbir")), ids=lambda p: p.stem)
def test_pass(path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    if path.stem == "annotate-fanout" and path.stem not in REGISTRY.items:  # the example plugin, not installed yet
        monkeypatch.syspath_prepend(str(EXAMPLE_PLUGIN))
        from sbcompile_example_pass import AnnotateFanout

        REGISTRY.add(AnnotateFanout.name, AnnotateFanout)
    rc = main([str(path), *run_args(path), "--emit", "ir"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    filecheck(read_checks(path.read_text()), out)


def test_every_listed_pass_has_a_filecheck_test() -> None:
    REGISTRY.load_entry_points()
    listed = [name for name, cls in REGISTRY.items.items() if not cls.__module__.startswith("tests.")]  # not test doubles
    missing = sorted(name for name in listed if not (CASES / f"{name}.sbir").exists())
    assert not missing, f"passes without a FileCheck test in {CASES}: {missing}"


OUTPUT = "a\nb x\nc\nd\n"


@pytest.mark.parametrize("checks", [
    "// CHECK: a\n// CHECK-NEXT: b\n// CHECK-NOT: z\n// CHECK: d",
    "// CHECK: b {{[a-z]}}\n// CHECK-NEXT: c",
])
def test_checker_accepts(checks: str) -> None:
    filecheck(read_checks(checks), OUTPUT)


@pytest.mark.parametrize("checks,why", [
    ("// CHECK: a\n// CHECK-NEXT: c", "is not on the next line"),
    ("// CHECK: a\n// CHECK-NOT: c\n// CHECK: d", "CHECK-NOT: 'c' found on output line 3"),
    ("// CHECK: d\n// CHECK: a", "not found after output line 4"),
    ("// CHECK: a\n// CHECK-NOT: d", "CHECK-NOT: 'd' found"),
    ("// nothing to check", "no CHECK lines"),
])
def test_checker_rejects(checks: str, why: str) -> None:
    with pytest.raises(CheckFailure, match=why):
        filecheck(read_checks(checks), OUTPUT)
