"""Weights to symmetric integer codes, in the number formats of the chosen target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from sbcompile.formats import NumberFormats
from sbcompile.ir import Module, Op, SbirError, WeightStore
from sbcompile.ir.dialects.syn import Dense, residual_codes

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


STORED = "stored"  # quant.scales of a projection whose scales came with the checkpoint
STORED_QMAX = 127  # the stored codes' nominal range (int8, symmetric); the release does not clamp to it


def split_outside(raw: np.ndarray, qmax: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Codes clipped to +-qmax and the sparse residual [nnz, 3] (row, column, excess) that makes
    them exact again, or None where none is outside."""
    codes = np.clip(raw, -qmax, qmax)
    outside = codes != raw
    if not outside.any():
        return codes, None
    rows, cols = np.nonzero(outside)
    return codes, np.stack([rows, cols, (raw - codes)[rows, cols]], 1).astype(np.int32)


def stored_scale_codes(store: WeightStore, weight: str, scales: str) -> tuple[dict, dict]:
    """A projection whose checkpoint ships its weight scales (W8ASpike: `*.weight_quantizer.scales`,
    [out, in/group, 1]) computes with round(W / scale) * scale, unclamped. Those codes go into the
    store as int8 with an exact sparse residual for the ones outside [-127, 127], the scales as
    [out, groups]; the float weight and the raw scales leave it. Returns the syn.dense param
    updates and the quant.* facts."""
    import torch

    from sbcompile.models.spiking import scale_codes

    out, n_in = store.shape(weight)
    groups = store.shape(scales)[1]
    base = f"{weight}.stored"
    updates = {"weight": base, "scale": f"{base}.scale", "group": n_in // groups}
    facts = {"bits": 8, "group": n_in // groups, "scales": STORED}
    if store.entry(weight).fake or store.entry(scales).fake:
        store.add_fake(base, (out, n_in), "i8")
        store.add_fake(f"{base}.scale", (out, groups), "f32")
        facts["weights"] = "fake"
    else:
        w, s = store.get(weight), np.asarray(store.get(scales), np.float32).reshape(out, groups)
        raw = scale_codes(torch.from_numpy(np.asarray(w, np.float32)), torch.from_numpy(s)).numpy().astype(np.int64)
        codes, residual = split_outside(raw, STORED_QMAX)
        store.add(base, codes.astype(np.int8))
        store.add(f"{base}.scale", s)
        if residual is not None:
            store.add(f"{base}.residual", residual)
            updates["residual"] = f"{base}.residual"
        per_weight = np.repeat(s.astype(np.float64), n_in // groups, axis=1)
        err = float(np.linalg.norm(raw * per_weight - w) / max(np.linalg.norm(w), 1e-30))
        facts.update({"overflow": 0 if residual is None else len(residual), "policy": "residual",
                      "rel_error": float(f"{err:.6g}"), "scale_min": float(f"{s.min():.6g}"),
                      "scale_max": float(f"{s.max():.6g}")})
    store.remove(weight)
    store.remove(scales)
    return updates, facts


@register_pass
@dataclass(frozen=True)
class Quantize(Pass):
    """Turns the weights of synaptic projections into symmetric integer codes with per-group
    scales: code = round(w / scale), ties to even. Scales come from each group's largest
    magnitude (`amax`, no code out of range) or a percentile of them (`percentile`, which trades
    range for resolution: codes beyond +-(2^(bits-1) - 1) then follow `overflow`). `clamp` clips
    them; `residual` clips them and keeps the difference as sparse outlier codes, so the result
    stays exact. Projections whose scales came with the checkpoint (W8ASpike; the frontend made
    their codes, quant.scales = stored) keep those scales whatever their input, and their codes
    outside int8 follow `overflow` too. Scale formats (float32, or powers of two within an
    exponent range) and the code width default to the target's machine description.

    Requires: syn.dense ops with float weights. Guarantees: every selected syn.dense has integer
    codes and a `scale`; each records `quant.*` annotations (bits, group, overflow count, relative
    error), and the report gains a `quantize` section with the same per op."""

    name = "quantize"
    weight_bits: int = option(0, "code width in bits; 0 takes the target's", minimum=0)
    group: int = option(0, "input channels per scale; 0 means one scale per output channel", minimum=0)
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
            if not op.isa(Dense):
                continue
            if op.attrs.get("quant.scales") == STORED and op.result.name not in section["ops"]:
                clipped = op.params.residual is not None and self.overflow == "clamp"
                section["ops"][op.result.name] = self.adopt_stored(module, op)
                changed = changed or clipped
                continue
            if op.params.scale is not None:
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
        codes, residual = split_outside(raw, qmax)
        dtype = np.int8 if bits <= 8 else np.int16
        base = f"{name}.q{bits}"
        module.weights.add(base, codes.astype(dtype))
        module.weights.add(f"{base}.scale", scales)
        updates = {"weight": base, "scale": f"{base}.scale", "group": self.group or None}
        if self.overflow == "residual" and residual is not None:
            module.weights.add(f"{base}.residual", residual)
            updates["residual"] = f"{base}.residual"
            codes = raw
        err = float(np.linalg.norm(codes * per_weight - w) / max(np.linalg.norm(w), 1e-30))
        facts = {"bits": bits, "group": self.group or int(w.shape[1]), "overflow": 0 if residual is None else len(residual),
                 "rel_error": float(f"{err:.6g}"), "policy": self.overflow,
                 "scale_min": float(f"{scales.min():.6g}"), "scale_max": float(f"{scales.max():.6g}")}
        if fmt.weight_scale == "pow2":
            exps = np.log2(scales)
            facts.update({"exp_min": int(exps.min()), "exp_max": int(exps.max())})
        return adopt(module, op, updates, facts)

    def adopt_stored(self, module: Module, op: Op) -> dict:
        """Stored scales stay; their codes outside int8 stay exact (`residual`) or are clipped
        (`clamp`, which changes what the checkpoint computes: the report counts them and gives the
        relative change of the effective weight, `clamp_error`)."""
        facts = {k[len("quant."):]: v for k, v in op.attrs.items() if k.startswith("quant.")}
        if self.overflow == "clamp" and op.params.residual is not None:
            residual = op.params.residual
            if not module.weights.entry(op.params.weight).fake:
                codes = np.asarray(module.weights.get(op.params.weight), np.float64)
                excess = residual_codes(module.weights.get(residual), codes.shape).astype(np.float64)
                per_weight = np.repeat(np.asarray(module.weights.get(op.params.scale), np.float64), op.params.group or
                                       codes.shape[1], axis=1)[:, : codes.shape[1]]
                change = np.linalg.norm(excess * per_weight) / max(np.linalg.norm((codes + excess) * per_weight), 1e-30)
                facts["clamp_error"] = op.attrs["quant.clamp_error"] = float(f"{change:.6g}")
            op.params = op.params.model_copy(update={"residual": None})
            if not any(o.params.model_dump().get("residual") == residual for o in module.ops):
                module.weights.remove(residual)
            facts["policy"] = "clamp"
            op.attrs["quant.policy"] = "clamp"
        return facts

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
