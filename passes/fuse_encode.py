"""Marks a spike encoder fused with the op that makes its input (RMSNorm, or SwiGLU's silu·mul), so
a target computes the producer, the per-token threshold and the counts in one pass over each row."""

from __future__ import annotations

from dataclasses import dataclass

from sbcompile.ir import Module, Op
from sbcompile.ir.dialects.nn import Mul, RMSNorm
from sbcompile.ir.dialects.spike import Encode

from .base import Pass, PassContext
from .fuse_silu_mul import SILU_OPERAND
from .registry import register_pass

ENCODED_BY = "fuse.encoded_by"  # on the producer: the encoder that consumes it
PRODUCER = "fuse.producer"  # on the encoder: the producer it computes


def _fusable_producer(op: Op) -> bool:
    """A float RMSNorm, or a mul that fuse-silu-mul marked (SiLU(a) * b)."""
    if op.isa(RMSNorm):
        return op.params.frac_bits is None
    return op.isa(Mul) and SILU_OPERAND in op.attrs


@register_pass
@dataclass(frozen=True)
class FuseEncode(Pass):
    """Fuses a per-token spike.encode with its producer: the producer gets `fuse.encoded_by` (the
    encoder's result), the encoder `fuse.producer`, so the producer's output is never written.

    Requires: a verified module; run after fuse-silu-mul (its marks name the silu·mul producers).
    Guarantees: only an encoder with one threshold per token (no `group`, `static` or `frac_bits`)
    whose input is a float nn.rmsnorm or a marked silu·mul, read by nothing else and not a module
    output, is marked; the IR's values are unchanged."""

    name = "fuse-encode"

    def run(self, module: Module, ctx: PassContext) -> bool:
        users = module.users()
        producers = {op.result.name: op for op in module.ops}
        outputs = {v.name for v in module.outputs}
        changed = False
        for op in module.ops:
            p = op.params
            if not op.isa(Encode) or p.group is not None or p.static is not None or p.frac_bits is not None:
                continue
            src = producers.get(op.operands[0].name)
            if src is None or not _fusable_producer(src) or src.result.name in outputs:
                continue
            if len(users.get(src.result.name, [])) != 1:
                continue
            if src.attrs.get(ENCODED_BY) != op.result.name or op.attrs.get(PRODUCER) != src.result.name:
                src.attrs[ENCODED_BY] = op.result.name
                op.attrs[PRODUCER] = src.result.name
                changed = True
        return changed
