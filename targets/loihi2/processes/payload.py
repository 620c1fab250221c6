"""How one token's value travels on a Lava port: flattened into one vector per step, spikes as
their counts and then their thresholds. `Layout` says how to read a vector back; `pack` writes a
value in one of the encodings a consumer takes. Plain numpy, shared by the lowering (sizes), our
processes and the session."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sbcompile.ir.dialects.neuron import integer_current
from sbcompile.ir.fixed import fixed_input
from sbcompile.ir.runtime import SpikeArray


@dataclass
class Layout:
    kind: str  # tensor | spikes
    shape: list[int]
    dtype: str
    scale_shape: list[int] | None

    @property
    def size(self) -> int:
        return math.prod(self.shape) + (math.prod(self.scale_shape) if self.scale_shape is not None else 0)

    @classmethod
    def of(cls, value: Any) -> "Layout":
        if isinstance(value, SpikeArray):
            scale = None if value.scale is None else list(np.shape(value.scale))
            return cls("spikes", list(value.counts.shape), str(value.counts.dtype), scale)
        a = np.asarray(value)
        return cls("tensor", list(a.shape), str(a.dtype), None)


def unpack(vec: np.ndarray, lay: dict) -> Any:
    """The value a packed vector holds; `lay` is a Layout as a dict (as it travels in JSON)."""
    n = int(np.prod(lay["shape"]))
    data = np.asarray(vec[:n]).reshape(lay["shape"]).astype(lay["dtype"])
    if lay["kind"] != "spikes":
        return data
    scale = None if lay["scale_shape"] is None else np.asarray(vec[n:]).reshape(lay["scale_shape"]).astype(np.float32)
    return SpikeArray(data, scale)


def pack(value: Any, encoding: str) -> np.ndarray:
    """packed: the whole value (float64); counts: spike counts for a Dense; floor: a LIF's integer
    current; fixed:F: 24-bit fixed point with F fraction bits (int32 for the last three)."""
    if encoding.startswith("fixed:"):
        return fixed_input(value, int(encoding[6:])).reshape(-1).astype(np.int32)
    if encoding == "counts":
        return np.asarray(value.counts).reshape(-1).astype(np.int32)
    if encoding == "floor":
        return integer_current(value.decode() if isinstance(value, SpikeArray) else value).reshape(-1)
    if isinstance(value, SpikeArray):
        parts = [value.counts.reshape(-1).astype(np.float64)]
        if value.scale is not None:
            parts.append(np.asarray(value.scale, np.float64).reshape(-1))
        return np.concatenate(parts)
    return np.asarray(value, np.float64).reshape(-1)


def encoded_size(lay: Layout, encoding: str) -> int:
    return lay.size if encoding == "packed" else math.prod(lay.shape)
