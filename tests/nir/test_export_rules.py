"""Every registered op class has a say in NIR export: a node builder, an edge form, or the reason
NIR cannot express it."""

from __future__ import annotations

import pytest

pytest.importorskip("nir")

from sbcompile.frontend.nir_export import FAN_IN, NODES, WHY_NOT  # noqa: E402
from sbcompile.ir import REGISTRY  # noqa: E402
from sbcompile.ir.dialects.io import Input  # noqa: E402


def test_every_op_class_exports_or_says_why_not() -> None:
    registered = {type(d) for d in REGISTRY.values()}
    tables = [set(NODES), set(FAN_IN), {Input}, set(WHY_NOT)]
    for i, a in enumerate(tables):
        for b in tables[i + 1:]:
            assert not a & b, f"in two tables: {sorted(c.name for c in a & b)}"
    missing = sorted(c.name for c in registered - set().union(*tables))
    assert not missing, f"op classes NIR export says nothing about: {missing}"
