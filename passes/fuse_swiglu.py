"""Marks SwiGLU's product as computed in the epilogue of the GEMM that makes both of its factors."""

from __future__ import annotations

from dataclasses import dataclass

from sbcompile.ir import Module

from .base import Pass, PassContext
from .fuse_projections import ATTR as GEMM_GROUP
from .fuse_silu_mul import INTO, SILU_OPERAND
from .registry import register_pass

SWIGLU = "fuse.swiglu"  # on a silu·mul: the fused projection (its leader) whose epilogue computes it


@register_pass
@dataclass(frozen=True)
class FuseSwiglu(Pass):
    """Fuses SiLU(gate) * up into the gate/up GEMM: a silu·mul marked by fuse-silu-mul whose gate and
    up are the two members of one fused projection (fuse-projections) gets `fuse.swiglu = "<leader>"`.
    A target then interleaves the gate and up weight rows, so that each output tile holds matching
    columns, and writes the product (and what its encoder needs) instead of gate and up: at 7B
    shapes, 2 x 18,944 columns per token written and read back become 18,944.

    Requires: fuse-projections and fuse-silu-mul. Guarantees: the group has exactly these two members,
    each read only by the silu or the mul, neither a module output; the IR's values are unchanged."""

    name = "fuse-swiglu"

    def run(self, module: Module, ctx: PassContext) -> bool:
        users = module.users()
        made = {r.name: op for op in module.ops for r in op.results}
        outputs = {v.name for v in module.outputs}
        members: dict[str, set[str]] = {}
        for op in module.ops:
            if op.attrs.get(GEMM_GROUP) is not None:
                members.setdefault(op.attrs[GEMM_GROUP], set()).add(op.results[0].name)
        changed = False
        for mul in module.ops:
            which = mul.attrs.get(SILU_OPERAND)
            if which is None:
                continue
            silu = made.get(mul.operands[which].name)
            if silu is None or silu.attrs.get(INTO) != mul.result.name:
                continue
            gate, up = silu.operands[0].name, mul.operands[1 - which].name
            leader = made[gate].attrs.get(GEMM_GROUP) if gate in made else None
            if leader is None or members.get(leader) != {gate, up} or {gate, up} & outputs:
                continue
            if [u.result.name for u in users.get(gate, [])] != [silu.result.name] or \
                    [u.result.name for u in users.get(up, [])] != [mul.result.name]:
                continue
            if mul.attrs.get(SWIGLU) != leader:
                mul.attrs[SWIGLU] = leader
                changed = True
        return changed
