"""`spike`: the adaptive-threshold encoder of SpikingBrain and its inverse.

encode: V_th = clamp(mean|x| / k, vth_min, vth_max) per token (mean taken in float64, V_th
rounded to float32), s = round(x / V_th) with ties to even (division in float64). Integer counts
are what the synapses receive; `s * V_th` is the value they stand for.

With `group`, each token has one threshold per group of channels (the W8ASpike release spikes the
SWA query per head). With a `static` threshold (a weight of shape [groups], from calibration) the
per-token reduction is replaced by one constant per group of channels, for hardware that cannot
reduce across a layer.

`coding` and `steps` say how counts travel as spike trains over `steps` virtual time steps, and
so how large a count can get: binary (0..steps, negatives dropped), ternary (-steps..steps),
bitwise (sign and magnitude, one bit per step: -(2^steps - 1)..2^steps - 1). `count` sends graded
spikes (the count itself, unbounded). Counts beyond the range saturate, and are counted.

With `frac_bits` = f the encoder computes in integers, as a neuromorphic chip's cores do: the input
arrives as 24-bit fixed point x_q = clip(rint(x 2^f), +-(2^23 - 1)); the threshold is
V_q = clip(round_half_up(sum|x_q| / (n k)), max(1, ceil(vth_min 2^f)), floor(vth_max 2^f)) with k
taken as k256 / 256 (n: channels, or the group's), computed as (256 A + (k256 n) // 2) // (k256 n);
s = x_q / V_q rounded half to even; the spikes stand for s V_q 2^-f."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ..fixed import divide_round_even, fixed_input, fixed_value
from ..opdef import EvalContext, NoParams, OpDef, Params, expect, expect_kind, register
from ..runtime import SpikeArray
from ..types import Type, is_float, spikes, tensor

Coding = Literal["count", "binary", "ternary", "bitwise"]


class EncodeParams(Params):
    k: float = 3.0
    vth_min: float = 1e-5
    vth_max: float = 1e4
    coding: Coding = "count"
    steps: int | None = None
    static: str | None = None
    group: int | None = None
    frac_bits: int | None = None


def adaptive_threshold(x: np.ndarray, p: EncodeParams) -> np.ndarray:
    """Per-token V_th, shape [..., 1], float32; with `group`, one per token and group of channels,
    broadcast to [..., channels]."""
    xd = np.abs(x.astype(np.float64))
    if p.group is None:
        return np.clip(xd.mean(axis=-1, keepdims=True) / p.k, p.vth_min, p.vth_max).astype(np.float32)
    g = xd.reshape(*x.shape[:-1], -1, p.group)
    vth = np.clip(g.mean(axis=-1, keepdims=True) / p.k, p.vth_min, p.vth_max).astype(np.float32)
    return np.broadcast_to(vth, g.shape).reshape(x.shape)


def count_range(coding: Coding, steps: int | None) -> tuple[int, int] | None:
    """The smallest and largest count a coding can send in `steps` steps (None: unbounded)."""
    if coding == "count" or steps is None:
        return None
    top = {"binary": steps, "ternary": steps, "bitwise": 2 ** steps - 1}[coding]
    return (0 if coding == "binary" else -top, top)


def static_thresholds(vth: np.ndarray, channels: int) -> np.ndarray:
    """Per-group constants [groups] broadcast to channels [channels], float32."""
    return np.repeat(np.asarray(vth, np.float32), channels // len(vth))


def fixed_encode(xq: np.ndarray, p: EncodeParams) -> tuple[np.ndarray, np.ndarray]:
    """Integer counts (before the coding's saturation) and the integer threshold V_q of each
    token (or channel group), broadcast to [..., 1] (or [..., channels])."""
    f = p.frac_bits or 0
    n = p.group or xq.shape[-1]
    g = np.abs(xq).reshape(*xq.shape[:-1], -1, n).sum(axis=-1, keepdims=True)
    k256 = max(1, int(round(p.k * 256)))
    vth = (g * 256 + (k256 * n) // 2) // (k256 * n)
    vth = np.clip(vth, max(1, int(np.ceil(p.vth_min * 2.0 ** f))), max(1, int(np.floor(p.vth_max * 2.0 ** f))))
    vth = np.broadcast_to(vth, (*xq.shape[:-1], xq.shape[-1] // n, n)).reshape(xq.shape) if p.group else vth[..., 0]
    return divide_round_even(xq, vth), vth


def saturate(counts: np.ndarray, p: EncodeParams) -> np.ndarray:
    """Counts clipped to what the coding carries."""
    bounds = count_range(p.coding, p.steps)
    return counts if bounds is None else np.clip(counts, *bounds)


def saturated(counts: np.ndarray, p: EncodeParams, ctx: EvalContext) -> np.ndarray:
    """saturate(), the clipped counts recorded."""
    clipped = saturate(counts, p)
    if count_range(p.coding, p.steps) is not None:
        ctx.record("saturated", int((clipped != counts).sum()))
    return clipped


@register
class Encode(OpDef):
    """Float activations -> integer spike counts with a threshold per token (or per channel group)."""

    name = "spike.encode"
    params = EncodeParams
    operands = ("x",)

    def result_types(self, p: EncodeParams, ts: list[Type]) -> list[Type]:
        expect_kind(ts[0], "tensor", "input")
        expect(is_float(ts[0].dtype), f"input must be floating point, got {ts[0]}")
        expect(p.k > 0, f"k must be positive, got {p.k}")
        expect((p.coding == "count") == (p.steps is None), f"coding '{p.coding}' and steps {p.steps} do not go together "
               "(count coding has no steps; the others need them)")
        expect(p.steps is None or p.steps >= 1, f"steps must be at least 1, got {p.steps}")
        expect(p.frac_bits is None or (0 <= p.frac_bits <= 23 and p.static is None),
               f"frac_bits must lie in [0, 23] and exclude a static threshold, got {p.frac_bits}")
        n = ts[0].shape[-1] if ts[0].shape else 1
        expect(p.group is None or (p.group > 0 and (not isinstance(n, int) or n % p.group == 0)),
               f"group {p.group} does not divide the {n} channels")
        return [spikes(ts[0].shape, "i32")]

    def evaluate(self, p: EncodeParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        x = args[0]
        if p.frac_bits is not None:
            counts, vth = fixed_encode(fixed_input(x, p.frac_bits), p)
            return [SpikeArray(saturated(counts, p, ctx).astype(np.int32), fixed_value(vth, p.frac_bits))]
        if p.static is not None:
            vth = static_thresholds(ctx.weight(p.static), x.shape[-1])
        else:
            vth = adaptive_threshold(x, p)
        counts = np.rint(x.astype(np.float64) / vth.astype(np.float64)).astype(np.int64)
        return [SpikeArray(saturated(counts, p, ctx).astype(np.int32), vth)]


@register
class Decode(OpDef):
    """Spike counts -> the float values they stand for (count x threshold)."""

    name = "spike.decode"
    params = NoParams
    operands = ("s",)

    def result_types(self, p: NoParams, ts: list[Type]) -> list[Type]:
        expect_kind(ts[0], "spikes", "input")
        return [tensor(ts[0].shape, "f32")]

    def evaluate(self, p: NoParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        return [args[0].decode()]
