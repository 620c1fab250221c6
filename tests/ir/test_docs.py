"""docs/ir.md stays true: every registered op has a row in its table."""

from __future__ import annotations

from pathlib import Path

from sbcompile.ir import REGISTRY


def test_every_op_is_documented() -> None:
    text = (Path(__file__).parents[2] / "docs" / "ir.md").read_text()
    missing = [name for name in REGISTRY if f"`{name}`" not in text]
    assert not missing, f"ops missing from docs/ir.md: {missing}"
