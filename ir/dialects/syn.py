"""`syn`: synaptic projections. Spikes (or, in float mode, tensors) times a weight matrix give
currents; on neuromorphic cores this is where the synapse memory and fan-in limits bite."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..opdef import EvalContext, OpDef, Params, expect, last_dim, register
from ..runtime import SpikeArray
from ..types import Type, tensor


class DenseParams(Params):
    weight: str
    bias: str | None = None
    out_features: int


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
        return [tensor((*ts[0].shape[:-1], p.out_features), "f32")]

    def weight_shapes(self, p: DenseParams, ts: list[Type]) -> dict[str, tuple]:
        return {"weight": (p.out_features, ts[0].shape[-1]), "bias": (p.out_features,)}

    def evaluate(self, p: DenseParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        x = args[0]
        w = np.asarray(ctx.weight(p.weight), np.float32)
        if isinstance(x, SpikeArray):
            y = x.counts.astype(np.float32) @ w.T
            if x.scale is not None:
                y = y * x.scale
        else:
            y = x.astype(np.float32) @ w.T
        if p.bias is not None:
            y = y + np.asarray(ctx.weight(p.bias), np.float32)
        return [y.astype(np.float32)]
