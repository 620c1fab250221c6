"""Marks projections that read the same spikes, so that a GPU target runs them as one GEMM."""

from __future__ import annotations

from dataclasses import dataclass

from sbcompile.ir import Module, Op
from sbcompile.ir.dialects.syn import Dense

from .base import Pass, PassContext
from .registry import register_pass

ATTR = "fuse.gemm"


def _per_channel(op: Op) -> bool:
    p = op.params
    return p.scale is not None and p.residual is None and (p.group is None or p.group >= op.operands[0].type.shape[-1])


@register_pass
@dataclass(frozen=True)
class FuseProjections(Pass):
    """Groups the quantized projections that read one spike value (SpikingBrain's q, k, v and the
    gate's first factor; gate and up): each member gets `fuse.gemm = "<first member's result>"`, and
    a target concatenates their codes, scales and biases into one weight and runs one GEMM whose
    column blocks are the members' results (one read of the spikes, one launch, wider tiles).

    Requires: quantized syn.dense ops with one scale per output channel (quantize's default).
    Guarantees: a group has at least two members of equal code width; the IR's values are unchanged."""

    name = "fuse-projections"

    def run(self, module: Module, ctx: PassContext) -> bool:
        groups: dict[tuple[str, object], list[Op]] = {}
        for op in module.ops:
            if op.isa(Dense) and op.operands[0].type.kind == "spikes" and _per_channel(op):
                groups.setdefault((op.operands[0].name, op.attrs.get("quant.bits")), []).append(op)
        changed = False
        for members in groups.values():
            if len(members) < 2:
                continue
            for op in members:
                if op.attrs.get(ATTR) != members[0].result.name:
                    op.attrs[ATTR] = members[0].result.name
                    changed = True
        return changed
