"""Static thresholds: calibrated constants in place of the per-token mean|x| reduction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sbcompile.formats import NumberFormats
from sbcompile.ir import Module, SbirError
from sbcompile.ir.dialects.spike import Encode

from .base import Pass, PassContext, option
from .calibrate import Calibration
from .quantize import machine_formats
from .registry import register_pass
from .rounding import sig


def to_threshold_format(v: np.ndarray, fmt: NumberFormats) -> np.ndarray:
    """Each value as mantissa x 2^exponent with the format's mantissa bits and exponent range."""
    bits = fmt.threshold_mantissa_bits
    lo, hi = fmt.threshold_exp_range
    exp = np.clip(np.floor(np.log2(v)) - (bits - 1), lo, hi)
    mant = np.clip(np.rint(v / np.exp2(exp)), 1, 2 ** bits - 1)
    return (mant * np.exp2(exp)).astype(np.float32)


@register_pass
@dataclass(frozen=True)
class StaticThreshold(Pass):
    """Replaces each encoder's per-token threshold (a reduction over the whole layer, which a
    neurocore cannot do) by calibrated constants, one per group of channels:
    V_th = mean over calibration tokens and the group's channels of |x|, over k, in the target's
    threshold format. The accuracy this costs shows in `evaluate` before and after it.

    Requires: `calibrate` before it. Guarantees: every encoder has a `static` threshold weight."""

    name = "static-threshold"
    groups: int = option(1, "thresholds per encoder (must divide its channels)")

    def run(self, module: Module, ctx: PassContext) -> bool:
        fmt = machine_formats(ctx)
        section: dict = {"groups": self.groups, "ops": {}}
        changed = False
        calibration = ctx.analyses.get(Calibration, module)
        for op in module.ops:
            if not op.isa(Encode) or op.params.static is not None:
                continue
            seen = calibration.encoders.get(op.result.name)
            absmean = None if seen is None else seen.absmean
            if absmean is None:
                raise SbirError(f"static-threshold: encoder %{op.result.name} is not calibrated (run calibrate first)", op.where())
            n = len(absmean)
            if self.groups < 1 or n % self.groups:
                raise SbirError(f"static-threshold: groups={self.groups} does not divide the {n} channels of %{op.result.name}")
            group_mean = np.array(absmean, np.float64).reshape(self.groups, -1).mean(axis=1)
            vth = np.clip(group_mean / op.params.k, op.params.vth_min, op.params.vth_max)
            vth = to_threshold_format(vth, fmt)
            name = f"{op.result.name}.static_vth"
            module.weights.add(name, vth)
            op.params = op.params.model_copy(update={"static": name})
            op.attrs["static.vth"] = tuple(sig(float(v)) for v in vth)
            section["ops"][op.result.name] = [sig(float(v)) for v in vth]
            changed = True
        ctx.report["static_threshold"] = section
        return changed
