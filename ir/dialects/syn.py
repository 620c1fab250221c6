"""`syn`: synaptic projections. Spikes (or, in float mode, tensors) times a weight matrix give
currents; on neuromorphic cores this is where the synapse memory and fan-in limits bite.

Once quantized (`scale` set), `weight` holds integer codes and `scale` float32 scales of shape
[out, groups], one per `group` input channels (the whole row when `group` is none). Spikes then
take the integer path of a neurocore: per group an exact integer accumulation
acc_g = sum_i counts_i * code_i (plus the sparse `residual` codes, if any), and the epilogue in
float32, rounded after every step: y = ((sum_g float32(acc_g) * scale_g) * V_th) + bias, the
groups summed in order. With static thresholds (one per channel group, a scale of shape
[channels] on the spikes) the accumulation is split wherever the weight group or the threshold
changes, and each part is scaled by float32(scale_g * V_th_h) before it is added."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import SbirError
from ..opdef import EvalContext, OpDef, Params, expect, last_dim, register
from ..runtime import SpikeArray
from ..types import Type, tensor


class DenseParams(Params):
    weight: str
    bias: str | None = None
    out_features: int
    scale: str | None = None
    group: int | None = None
    residual: str | None = None


def n_groups(in_features: int, group: int | None) -> int:
    return 1 if group is None else -(-in_features // group)


def integer_accumulate(counts: np.ndarray, codes: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Exact sum_i counts[..., i] * codes[:, i] over input channels lo..hi. float64 BLAS is exact
    here: every partial sum is an integer far below 2^53 (|count| < 2^20, |code| < 2^15, fan-in < 2^17)."""
    return counts[..., lo:hi].astype(np.float64) @ codes[:, lo:hi].T.astype(np.float64)


def residual_codes(entries: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Sparse outliers [nnz, 3] (row, column, code) as a dense integer matrix."""
    dense = np.zeros(shape, np.int64)
    np.add.at(dense, (entries[:, 0], entries[:, 1]), entries[:, 2])
    return dense


@register
class Dense(OpDef):
    """y = x W^T + b. On spikes: (counts W^T) x threshold + b, the order a neurocore computes in."""

    name = "syn.dense"
    params = DenseParams
    operands = ("x",)

    def result_types(self, p: DenseParams, ts: list[Type]) -> list[Type]:
        expect(ts[0].kind in ("tensor", "spikes"), f"input must be a tensor or spikes, got {ts[0]}")
        last_dim(ts[0])
        expect(p.out_features > 0, f"out_features must be positive, got {p.out_features}")
        expect(p.group is None or p.group > 0, f"group must be positive, got {p.group}")
        expect(p.scale is not None or (p.group is None and p.residual is None), "group and residual need a scale")
        return [tensor((*ts[0].shape[:-1], p.out_features), "f32")]

    def weight_shapes(self, p: DenseParams, ts: list[Type]) -> dict[str, tuple]:
        n_in = ts[0].shape[-1]
        shapes: dict[str, tuple] = {"weight": (p.out_features, n_in), "bias": (p.out_features,)}
        if isinstance(n_in, int):
            shapes["scale"] = (p.out_features, n_groups(n_in, p.group))
        return shapes

    def evaluate(self, p: DenseParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        x = args[0]
        if p.scale is not None and isinstance(x, SpikeArray):
            y = self._integer_path(p, x, ctx)
        else:
            w = np.asarray(ctx.weight(p.weight), np.float32)
            if p.scale is not None:
                w = self._dequantized(p, w, ctx)
            if isinstance(x, SpikeArray):
                if x.scale is not None and (x.scale.ndim == 1 or x.scale.shape[-1] > 1):  # per channel
                    y = (x.counts.astype(np.float32) * x.scale) @ w.T
                else:
                    y = x.counts.astype(np.float32) @ w.T
                    if x.scale is not None:
                        y = y * x.scale
            else:  # accumulated in float64: the same float32 result however many tokens come at once
                y = (x.astype(np.float64) @ w.T.astype(np.float64)).astype(np.float32)
        return [add_bias(p, y, ctx.weight)]

    @staticmethod
    def _integer_path(p: DenseParams, x: SpikeArray, ctx: EvalContext) -> np.ndarray:
        codes = ctx.weight(p.weight)
        if p.residual is not None:
            codes = codes.astype(np.int64) + residual_codes(ctx.weight(p.residual), codes.shape)
        parts = integer_parts(p, x, codes.shape[1])
        accs = [integer_accumulate(x.counts, codes, lo, hi) for lo, hi in parts]
        return integer_epilogue(p, x, parts, accs, np.asarray(ctx.weight(p.scale), np.float32))

    @staticmethod
    def _dequantized(p: DenseParams, codes: np.ndarray, ctx: EvalContext) -> np.ndarray:
        if p.residual is not None:
            codes = codes + residual_codes(ctx.weight(p.residual), codes.shape).astype(np.float32)
        scales = np.asarray(ctx.weight(p.scale), np.float32)
        g = p.group or codes.shape[1]
        return codes * np.repeat(scales, g, axis=1)[:, : codes.shape[1]]


def add_bias(p: DenseParams, y: np.ndarray, weight: Callable[[str], np.ndarray]) -> np.ndarray:
    if p.bias is not None:
        y = y + np.asarray(weight(p.bias), np.float32)
    return y.astype(np.float32)


def integer_parts(p: DenseParams, x: SpikeArray, n_in: int) -> list[tuple[int, int]]:
    """The input-channel ranges [lo, hi) accumulated apart: the weight groups, and with static
    thresholds also wherever the threshold changes. A neuromorphic target gives each its own
    synapse group; the epilogue below combines them."""
    if x.scale is not None and x.scale.ndim > 1 and x.scale.shape[-1] > 1:
        raise SbirError("syn.dense: spikes with per-token thresholds per channel group cannot take the integer path")
    g = p.group or n_in
    if x.scale is not None and x.scale.ndim == 1:  # static thresholds, constant within runs
        bounds = sorted(set(range(0, n_in, g)) | {0, n_in} | {int(i) + 1 for i in np.nonzero(np.diff(x.scale))[0]})
        return list(zip(bounds[:-1], bounds[1:]))
    return [(lo, min(lo + g, n_in)) for lo in range(0, n_in, g)]


def integer_epilogue(p: DenseParams, x: SpikeArray, parts: list[tuple[int, int]], accs: list[np.ndarray],
                     scales: np.ndarray) -> np.ndarray:
    """y from the exact integer accumulations of `parts`, in float32 rounded after every step (the
    bias is added by the caller)."""
    g = p.group or parts[-1][1]
    y = np.zeros((*x.counts.shape[:-1], p.out_features), np.float32)
    if x.scale is not None and x.scale.ndim == 1:
        for (lo, _), acc in zip(parts, accs):
            y = y + np.asarray(acc).astype(np.float32) * (scales[:, lo // g] * x.scale[lo])
        return y
    for j, acc in enumerate(accs):
        y = y + np.asarray(acc).astype(np.float32) * scales[:, j]
    return y * x.scale if x.scale is not None else y
