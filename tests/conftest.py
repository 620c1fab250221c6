"""Shared test options: `--update-goldens` (`make bless`) rewrites expected files from the
current output; no test writes an expected file otherwise, so a new case fails until blessed.
Every test must end the processes it starts (checked after each one)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Callable, Iterator

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", help="rewrite golden expected files")


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


@pytest.fixture
def golden(update_goldens: bool) -> Callable[[Path, str], None]:
    """`golden(expected_path, got)`: assert `got` equals the file; with --update-goldens, write it
    first. A missing file fails: bless it (`make bless`) and review the diff."""

    def check(expected: Path, got: str) -> None:
        if update_goldens:
            expected.parent.mkdir(parents=True, exist_ok=True)
            expected.write_text(got)
        assert expected.exists(), f"{expected} does not exist; create it with `make bless` and review it"
        assert got == expected.read_text(), f"output differs from {expected}; rerun with `make bless` if intended"

    return check


@pytest.fixture(autouse=True)
def no_leaked_processes() -> Iterator[None]:
    """A test that leaves child processes running (a Lava session never closed) fails here, and
    they are killed: left alive, they keep the test run from exiting (multiprocessing joins them)."""
    before = {p.pid for p in multiprocessing.active_children()}
    yield
    leaked = [p for p in multiprocessing.active_children() if p.pid not in before]
    for p in leaked:
        p.kill()
        p.join()
    assert not leaked, f"the test left {len(leaked)} child processes running: {sorted(p.name for p in leaked)}"
