"""Dead-code elimination."""

from __future__ import annotations

from dataclasses import dataclass

from sbcompile.ir import Module
from sbcompile.ir.dialects.io import Input

from .base import Pass, PassContext
from .registry import register_pass


@register_pass
@dataclass(frozen=True)
class DeadCodeElimination(Pass):
    """Removes ops whose results no op and no output reads.

    Requires: a verified module. Guarantees: every remaining op, except module inputs
    (`io.input`, which are the module's interface), contributes to an output."""

    name = "dce"

    def run(self, module: Module, ctx: PassContext) -> bool:
        live = {v.name for v in module.outputs}
        keep = []
        for op in reversed(module.ops):
            if op.isa(Input) or any(r.name in live for r in op.results):
                keep.append(op)
                live.update(v.name for v in op.operands)
        changed = len(keep) != len(module.ops)
        module.ops = keep[::-1]
        return changed
