"""`neuron`: generic spiking neurons over the time axis (the `seq` dimension doubles as time),
so that plain SNNs and NIR graphs from other frameworks compile too.

lif, per step t: v = (1 - leak) * v + gain * I[t] + bias; spike where v >= v_th; then reset
(`zero`: v = v_reset, `subtract`: v -= v_th). leak = 0 gives an integrate-and-fire neuron."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ..opdef import EvalContext, OpDef, Params, expect, expect_kind, register
from ..runtime import SpikeArray
from ..types import Type, is_float, spikes


class LIFParams(Params):
    leak: float = 0.0
    gain: float = 1.0
    bias: float = 0.0
    v_th: float = 1.0
    v_reset: float = 0.0
    reset: Literal["zero", "subtract"] = "zero"


@register
class LIF(OpDef):
    """Leaky integrate-and-fire population; input currents [time, n] -> unit spikes [time, n]."""

    name = "neuron.lif"
    params = LIFParams
    operands = ("current",)
    stateful = True

    def result_types(self, p: LIFParams, ts: list[Type]) -> list[Type]:
        expect_kind(ts[0], "tensor", "current")
        expect(is_float(ts[0].dtype), f"current must be floating point, got {ts[0]}")
        expect(0.0 <= p.leak <= 1.0, f"leak must lie in [0, 1], got {p.leak}")
        return [spikes(ts[0].shape, "i8")]

    def evaluate(self, p: LIFParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        current = args[0].astype(np.float32)
        st = ctx.state()
        v = st.get("v", np.zeros(current.shape[1:], np.float32))
        out = np.zeros(current.shape, np.int8)
        keep, gain, bias = np.float32(1 - p.leak), np.float32(p.gain), np.float32(p.bias)
        for t in range(current.shape[0]):
            v = keep * v + gain * current[t] + bias
            fired = v >= np.float32(p.v_th)
            out[t] = fired
            v = np.where(fired, v - np.float32(p.v_th) if p.reset == "subtract" else np.float32(p.v_reset), v)
        st["v"] = v
        return [SpikeArray(out)]
