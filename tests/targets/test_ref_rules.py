"""The ref target runs every registered op class through its own reference semantics: no op
class may be left without `evaluate` (the interpreter is every other target's fallback)."""

from __future__ import annotations

from sbcompile.ir import REGISTRY, OpDef


def test_every_op_class_has_reference_semantics() -> None:
    missing = sorted(name for name, d in REGISTRY.items() if type(d).evaluate is OpDef.evaluate)
    assert not missing, f"op classes without reference semantics: {missing}"
