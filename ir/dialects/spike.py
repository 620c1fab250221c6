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
spikes (the count itself, unbounded). Counts beyond the range saturate, and are counted."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

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
        n = ts[0].shape[-1] if ts[0].shape else 1
        expect(p.group is None or (p.group > 0 and (not isinstance(n, int) or n % p.group == 0)),
               f"group {p.group} does not divide the {n} channels")
        return [spikes(ts[0].shape, "i32")]

    def evaluate(self, p: EncodeParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        x = args[0]
        if p.static is not None:
            vth = static_thresholds(ctx.weight(p.static), x.shape[-1])
        else:
            vth = adaptive_threshold(x, p)
        counts = np.rint(x.astype(np.float64) / vth.astype(np.float64)).astype(np.int64)
        bounds = count_range(p.coding, p.steps)
        if bounds is not None:
            clipped = np.clip(counts, *bounds)
            ctx.record("saturated", int((clipped != counts).sum()))
            counts = clipped
        return [SpikeArray(counts.astype(np.int32), vth)]


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
