"""Adaptive-threshold encoders to integer arithmetic, as a neuromorphic chip computes them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sbcompile.ir import Module

from .base import Pass, PassContext, option
from .registry import register_pass

HEADROOM_BITS = 22  # the largest calibrated |x| lands at 2^22: half the 24-bit range


@register_pass
@dataclass(frozen=True)
class FixedEncoders(Pass):
    """Makes every adaptive-threshold `spike.encode` compute in integers (its `frac_bits`): the
    input arrives as 24-bit fixed point, the per-token threshold is an integer sum of |x| divided
    by n k, and the counts an integer division rounded half to even (docs/ir.md), so that the
    encoder runs as a fixed-point process beside the cores. The fraction bits come from the
    calibrated range of the encoder's input (the largest |x| at half the 24-bit range), else
    `frac-bits`. Static-threshold encoders are left as they are.

    Guarantees: every adaptive `spike.encode` has `frac_bits`; the report lists them."""

    name = "fixed-encoders"
    frac_bits: int = option(12, "fraction bits of an encoder whose input was not calibrated")

    def run(self, module: Module, ctx: PassContext) -> bool:
        chosen: dict[str, int] = {}
        for op in module.ops:
            if op.name != "spike.encode" or op.params.static is not None or op.params.frac_bits is not None:
                continue
            src = op.operands[0].owner
            absmax = src.attrs.get("calib.absmax") if src is not None else None
            f = self.frac_bits
            if isinstance(absmax, (int, float)) and absmax > 0:
                f = max(0, min(20, math.floor(HEADROOM_BITS - math.log2(absmax))))
            op.params = op.params.model_copy(update={"frac_bits": f})
            chosen[op.result.name] = f
        if chosen:
            ctx.report["fixed_encoders"] = {"frac_bits": chosen}
        return bool(chosen)
