"""RMSNorm to integer arithmetic, as a neuromorphic chip's embedded processors compute it."""

from __future__ import annotations

from dataclasses import dataclass

from sbcompile.ir import Module
from sbcompile.ir.fixed import frac_bits_for
from sbcompile.ir.dialects.nn import RMSNorm

from .base import Pass, PassContext, option
from .registry import register_pass


@register_pass
@dataclass(frozen=True)
class FixedNorms(Pass):
    """Makes every `nn.rmsnorm` compute in integers (its `frac_bits`): 24-bit fixed-point input
    and output, an integer square root of the mean square, weights with 12 fraction bits, each
    division rounded half to even (docs/ir.md), so that the norm runs as a fixed-point process
    whose integers feed the encoder after it directly. The fraction bits fit the larger of the
    calibrated input and output ranges at half the 24-bit range, else `frac-bits`.

    Guarantees: every `nn.rmsnorm` has `frac_bits`; the report lists them."""

    name = "fixed-norms"
    frac_bits: int = option(12, "fraction bits of a norm whose input and output were not calibrated")

    def run(self, module: Module, ctx: PassContext) -> bool:
        chosen: dict[str, int] = {}
        for op in module.ops:
            if not op.isa(RMSNorm) or op.params.frac_bits is not None:
                continue
            src = op.operands[0].owner
            ranges = [o.attrs.get("calib.absmax") for o in (src, op) if o is not None]
            known = [r for r in ranges if isinstance(r, (int, float))]
            f = frac_bits_for(max(known) if len(known) == len(ranges) else None, self.frac_bits)
            op.params = op.params.model_copy(update={"frac_bits": f})
            chosen[op.result.name] = f
        if chosen:
            ctx.report["fixed_norms"] = {"frac_bits": chosen}
        return bool(chosen)
