"""Marks SiLU(a) * b (SwiGLU's gate) as one elementwise kernel, the down projection's input."""

from __future__ import annotations

from dataclasses import dataclass

from sbcompile.ir import Module
from sbcompile.ir.dialects.nn import Mul, SiLU

from .base import Pass, PassContext
from .registry import register_pass

INTO = "fuse.into"
SILU_OPERAND = "fuse.silu_operand"


@register_pass
@dataclass(frozen=True)
class FuseSiluMul(Pass):
    """Fuses an nn.silu into the nn.mul that is its only reader: the mul gets `fuse.silu_operand`
    (which of its operands is the silu) and the silu `fuse.into` (the mul's result), so a target
    computes SiLU(a) * b in one pass and never writes SiLU(a).

    Requires: a verified module. Guarantees: only a silu that is not a module output, read once by
    a mul of two distinct operands of the same type, is marked; the IR's values are unchanged."""

    name = "fuse-silu-mul"

    def run(self, module: Module, ctx: PassContext) -> bool:
        users = module.users()
        outputs = {v.name for v in module.outputs}
        changed = False
        for op in module.ops:
            if not op.isa(SiLU) or op.result.name in outputs:
                continue
            readers = users.get(op.result.name, [])
            if len(readers) != 1 or not readers[0].isa(Mul):
                continue
            mul = readers[0]
            a, b = mul.operands
            if a.name == b.name or a.type != b.type:
                continue
            marks = {INTO: mul.result.name}, {SILU_OPERAND: 0 if a.name == op.result.name else 1}
            if op.attrs.get(INTO) != marks[0][INTO] or mul.attrs.get(SILU_OPERAND) != marks[1][SILU_OPERAND]:
                op.attrs.update(marks[0])
                mul.attrs.update(marks[1])
                changed = True
        return changed
