"""RMSNorm to integer arithmetic, as a neuromorphic chip's embedded processors compute it."""

from __future__ import annotations

from dataclasses import dataclass

from sbcompile.ir import Module
from sbcompile.ir.dialects.nn import RMSNorm
from sbcompile.ir.fixed import frac_bits_for

from .base import Pass, PassContext, option
from .calibrate import Calibration
from .registry import register_pass
from .report import fixed_point_section


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

    report_rank = 40
    report_section = staticmethod(fixed_point_section)

    def run(self, module: Module, ctx: PassContext) -> bool:
        chosen: dict[str, int] = {}
        absmax = ctx.analyses.get(Calibration, module).absmax
        for op in module.ops:
            if not op.isa(RMSNorm) or op.params.frac_bits is not None:
                continue
            ranges = [absmax.get(v.name) for v in (op.operands[0], op.result)]
            known = [r for r in ranges if r is not None]
            f = frac_bits_for(max(known) if len(known) == len(ranges) else None, self.frac_bits)
            op.params = op.params.model_copy(update={"frac_bits": f})
            chosen[op.result.name] = f
        if chosen:
            ctx.report["fixed_norms"] = {"frac_bits": chosen}
        return bool(chosen)
