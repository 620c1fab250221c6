"""Weights to symmetric integer codes, in the number formats of the chosen target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from sbcompile.formats import NumberFormats
from sbcompile.ir import Module, Op, SbirError
from sbcompile.ir.dialects.syn import Dense

from .base import Pass, PassContext, option
from .registry import register_pass
from .report import fold, table


def machine_formats(ctx: PassContext) -> NumberFormats:
    """The number formats of the target's machine description (float32 scales, 8-bit codes when
    the machine states none)."""
    return getattr(ctx.machine, "formats", None) or NumberFormats()


def group_scales(w: np.ndarray, group: int, qmax: int, fmt: NumberFormats, method: str, percentile: float) -> np.ndarray:
    """One scale per (row, group of input channels), float32, shape [out, groups]."""
    out, n_in = w.shape
    groups = -(-n_in // group)
    padded = np.zeros((out, groups * group), np.float64)
    padded[:, :n_in] = np.abs(w)
    blocks = padded.reshape(out, groups, group)
    if method == "amax":
        top = blocks.max(axis=-1)
    else:
        top = np.percentile(blocks, percentile, axis=-1)
    scale = top / qmax
    if fmt.weight_scale == "pow2":
        lo, hi = fmt.weight_exp_range
        exp = np.ceil(np.log2(np.where(scale > 0, scale, 1.0)))
        scale = np.exp2(np.clip(exp, lo, hi))
    return np.where(top > 0, scale, 1.0).astype(np.float32)


@register_pass
@dataclass(frozen=True)
class Quantize(Pass):
    """Turns the weights of synaptic projections into symmetric integer codes with per-group
    scales: code = round(w / scale), ties to even. Scales come from each group's largest
    magnitude (`amax`, no code out of range) or a percentile of them (`percentile`, which trades
    range for resolution: codes beyond +-(2^(bits-1) - 1) then follow `overflow`). `clamp` clips
    them; `residual` clips them and keeps the difference as sparse outlier codes, so the result
    stays exact. Scale formats (float32, or powers of two within an exponent range) and the code
    width default to the target's machine description.

    Requires: syn.dense ops with float weights. Guarantees: every selected syn.dense has integer
    codes and a `scale`; each records `quant.*` annotations (bits, group, overflow count, relative
    error), and the report gains a `quantize` section with the same per op."""

    name = "quantize"
    weight_bits: int = option(0, "code width in bits; 0 takes the target's")
    group: int = option(0, "input channels per scale; 0 means one scale per output channel")
    scale_method: Literal["amax", "percentile"] = option("amax", "how a group's scale is chosen")
    percentile: float = option(99.99, "the percentile of |w| a scale covers with scale-method=percentile")
    overflow: Literal["clamp", "residual"] = option("clamp", "what happens to codes outside the range")
    include: Literal["spiking", "all"] = option("spiking", "quantize only projections fed by spikes, or all")

    report_rank = 20
    report_key = "quantize"

    @classmethod
    def render_section(cls, q: dict, report: dict) -> list[str]:
        if not q["ops"]:
            return []
        errors = [row["rel_error"] for row in q["ops"].values() if "rel_error" in row]
        worst = f"; relative weight error mean {sum(errors) / len(errors):.3g}, worst {max(errors):.3g}" if errors else ""
        return (["## Quantization", "", f"{q['weight_bits']}-bit codes, {q['scale_format']} scales, {len(q['ops'])} ops{worst}.", ""]
                + fold("per op", table(q["ops"], "op")))

    def run(self, module: Module, ctx: PassContext) -> bool:
        fmt = machine_formats(ctx)
        bits = self.weight_bits or fmt.weight_bits
        if not 2 <= bits <= 16:
            raise SbirError(f"quantize: weight-bits must lie in [2, 16], got {bits}")
        section = ctx.report.setdefault("quantize", {"weight_bits": bits, "scale_format": fmt.weight_scale, "ops": {}})
        changed = False
        for op in module.ops:
            if not op.isa(Dense) or op.params.scale is not None:
                continue
            if self.include == "spiking" and op.operands[0].type.kind != "spikes":
                continue
            section["ops"][op.result.name] = self.quantize_op(module, op, bits, fmt)
            changed = True
        return changed

    def quantize_op(self, module: Module, op: Op, bits: int, fmt: NumberFormats) -> dict:
        name = op.params.weight
        if module.weights.entry(name).fake:
            return self.quantize_fake(module, op, bits)
        w = np.asarray(module.weights.get(name), np.float64)
        qmax = 2 ** (bits - 1) - 1
        group = self.group or w.shape[1]
        scales = group_scales(w, group, qmax, fmt, self.scale_method, self.percentile)
        per_weight = np.repeat(scales.astype(np.float64), group, axis=1)[:, : w.shape[1]]
        raw = np.rint(w / per_weight).astype(np.int64)
        outside = np.abs(raw) > qmax
        codes = np.clip(raw, -qmax, qmax)
        dtype = np.int8 if bits <= 8 else np.int16
        base = f"{name}.q{bits}"
        module.weights.add(base, codes.astype(dtype))
        module.weights.add(f"{base}.scale", scales)
        updates = {"weight": base, "scale": f"{base}.scale", "group": self.group or None}
        if self.overflow == "residual" and outside.any():
            rows, cols = np.nonzero(outside)
            module.weights.add(f"{base}.residual", np.stack([rows, cols, (raw - codes)[rows, cols]], 1).astype(np.int32))
            updates["residual"] = f"{base}.residual"
            codes = raw
        err = float(np.linalg.norm(codes * per_weight - w) / max(np.linalg.norm(w), 1e-30))
        facts = {"bits": bits, "group": self.group or int(w.shape[1]), "overflow": int(outside.sum()),
                 "rel_error": float(f"{err:.6g}"), "policy": self.overflow,
                 "scale_min": float(f"{scales.min():.6g}"), "scale_max": float(f"{scales.max():.6g}")}
        if fmt.weight_scale == "pow2":
            exps = np.log2(scales)
            facts.update({"exp_min": int(exps.min()), "exp_max": int(exps.max())})
        return adopt(module, op, updates, facts)

    def quantize_fake(self, module: Module, op: Op, bits: int) -> dict:
        """Shape-only weights (a model traced without them) get shape-only codes and scales, so
        that mapping sees the quantized widths."""
        name = op.params.weight
        out, n_in = module.weights.shape(name)
        group = self.group or n_in
        base = f"{name}.q{bits}"
        module.weights.add_fake(base, (out, n_in), "i8" if bits <= 8 else "i16")
        module.weights.add_fake(f"{base}.scale", (out, -(-n_in // group)), "f32")
        updates = {"weight": base, "scale": f"{base}.scale", "group": self.group or None}
        return adopt(module, op, updates, {"bits": bits, "group": group, "policy": self.overflow, "weights": "fake"})


def adopt(module: Module, op: Op, updates: dict, facts: dict) -> dict:
    """Point `op` at its codes and scales, drop the float weight no other op reads, and annotate
    the op with `facts` (quant.*), which are returned for the report."""
    name = op.params.weight
    op.params = op.params.model_copy(update=updates)
    type(op.params).model_validate(op.params.model_dump())
    if not any(o.params.model_dump().get("weight") == name for o in module.ops if o is not op):
        module.weights.remove(name)
    op.attrs.update({f"quant.{k}": v for k, v in facts.items()})
    return facts
