"""Adaptive-threshold encoders to integer arithmetic, as a neuromorphic chip computes them."""

from __future__ import annotations

from dataclasses import dataclass

from sbcompile.ir import Module
from sbcompile.ir.dialects.nn import RMSNorm
from sbcompile.ir.dialects.spike import Encode
from sbcompile.ir.fixed import frac_bits_for

from .base import Pass, PassContext, option
from .calibrate import Calibration
from .registry import register_pass
from .report import fixed_point_section


@register_pass
@dataclass(frozen=True)
class FixedEncoders(Pass):
    """Makes every adaptive-threshold `spike.encode` compute in integers (its `frac_bits`): the
    input arrives as 24-bit fixed point, the per-token threshold is an integer sum of |x| divided
    by n k, and the counts an integer division rounded half to even (docs/ir.md), so that the
    encoder runs as a fixed-point process beside the cores. The fraction bits are those of a
    fixed-point norm feeding it (so that its integers pass straight through), else from the
    calibrated range of the input (the largest |x| at half the 24-bit range), else `frac-bits`.
    Static-threshold encoders are left as they are.

    Guarantees: every adaptive `spike.encode` has `frac_bits`; the report lists them."""

    name = "fixed-encoders"
    frac_bits: int = option(12, "fraction bits of an encoder whose input was not calibrated")

    report_rank = 40
    report_section = staticmethod(fixed_point_section)

    def run(self, module: Module, ctx: PassContext) -> bool:
        chosen: dict[str, int] = {}
        absmax = ctx.analyses.get(Calibration, module).absmax
        for op in module.ops:
            if not op.isa(Encode) or op.params.static is not None or op.params.frac_bits is not None:
                continue
            src = op.operands[0].owner
            if src is not None and src.isa(RMSNorm) and src.params.frac_bits is not None:
                f = src.params.frac_bits
            else:
                f = frac_bits_for(absmax.get(op.operands[0].name), self.frac_bits)
            op.params = op.params.model_copy(update={"frac_bits": f})
            chosen[op.result.name] = f
        if chosen:
            ctx.report["fixed_encoders"] = {"frac_bits": chosen}
        return bool(chosen)
