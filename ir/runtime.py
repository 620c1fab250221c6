"""Run-time values of the reference semantics: numpy arrays for tensors, `SpikeArray` for spikes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SpikeArray:
    """Integer spike counts per channel; the value they stand for is `counts * scale`, where
    `scale` is the per-token threshold (shape [..., 1], float32) or None for unit spikes."""

    counts: np.ndarray
    scale: np.ndarray | None = None

    def decode(self) -> np.ndarray:
        c = self.counts.astype(np.float32)
        return c if self.scale is None else c * self.scale

    @property
    def shape(self) -> tuple[int, ...]:
        return self.counts.shape
