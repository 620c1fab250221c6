"""`spike`: the adaptive-threshold encoder of SpikingBrain and its inverse.

encode: V_th = clamp(mean|x| / k, vth_min, vth_max) per token (mean taken in float64, V_th
rounded to float32), s = round(x / V_th) with ties to even (division in float64). Integer counts
are what the synapses receive; `s * V_th` is the value they stand for."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..opdef import EvalContext, NoParams, OpDef, Params, expect, expect_kind, register
from ..runtime import SpikeArray
from ..types import Type, is_float, spikes, tensor


class EncodeParams(Params):
    k: float = 3.0
    vth_min: float = 1e-5
    vth_max: float = 1e4


def adaptive_threshold(x: np.ndarray, p: EncodeParams) -> np.ndarray:
    """Per-token V_th, shape [..., 1], float32."""
    mean = np.abs(x.astype(np.float64)).mean(axis=-1, keepdims=True)
    return np.clip(mean / p.k, p.vth_min, p.vth_max).astype(np.float32)


@register
class Encode(OpDef):
    """Float activations -> integer spike counts with a per-token threshold."""

    name = "spike.encode"
    params = EncodeParams
    operands = ("x",)

    def result_types(self, p: EncodeParams, ts: list[Type]) -> list[Type]:
        expect_kind(ts[0], "tensor", "input")
        expect(is_float(ts[0].dtype), f"input must be floating point, got {ts[0]}")
        expect(p.k > 0, f"k must be positive, got {p.k}")
        return [spikes(ts[0].shape, "i32")]

    def evaluate(self, p: EncodeParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        x = args[0]
        vth = adaptive_threshold(x, p)
        counts = np.rint(x.astype(np.float64) / vth.astype(np.float64)).astype(np.int32)
        return [SpikeArray(counts, vth)]


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
