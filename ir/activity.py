"""Activity statistics recorded while the interpreter runs: per spiking op, how many spikes each
channel emitted, how many channels stayed silent, and the sparsity under bit-serial coding.

Definitions (docs/ref.md): a count s on one channel for one token is |s| spikes under ternary
coding (`spikes_per_channel`; it averages about k by the threshold's construction) and
popcount(|s|) spikes under bitwise coding (`bitwise_spikes_per_channel`, the report's 1.13). `zero_fraction` is the share of (token, channel) counts equal to 0. `sparsity` follows
the SpikingBrain report: counts are sent bitwise over a window of T = max(3, bit length of |s|)
virtual steps, one spike per set bit; sparsity = 1 - spikes / slots, summed over all counts.
A channel is silent if it emitted no spike over all tokens seen."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

WINDOW = 3  # the report's fixed bitwise window


def _popcount(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.int64)
    n = np.zeros_like(a)
    while np.any(a):
        n += a & 1
        a >>= 1
    return n


def _bit_length(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.int64)
    n = np.zeros_like(a)
    while np.any(a):
        n += (a > 0)
        a >>= 1
    return n


@dataclass
class SpikeStats:
    """Running totals for one op's spike counts."""

    channels: int
    tokens: int = 0
    abs_sum: np.ndarray = field(default=None)  # type: ignore[assignment]  # per channel, sum of |s|
    zeros: int = 0
    small: int = 0  # counts with |s| <= 7
    bit_spikes: int = 0
    bit_slots: int = 0
    max_abs: int = 0

    def __post_init__(self) -> None:
        if self.abs_sum is None:
            self.abs_sum = np.zeros(self.channels, np.int64)

    def add(self, counts: np.ndarray) -> None:
        a = np.abs(counts.reshape(-1, self.channels).astype(np.int64))
        self.tokens += a.shape[0]
        self.abs_sum += a.sum(axis=0)
        self.zeros += int((a == 0).sum())
        self.small += int((a <= 7).sum())
        self.bit_spikes += int(_popcount(a).sum())
        self.bit_slots += int(np.maximum(WINDOW, _bit_length(a)).sum())
        self.max_abs = max(self.max_abs, int(a.max(initial=0)))

    COUNTERS = ("tokens", "zeros", "small", "bit_spikes", "bit_slots", "max_abs")

    def to_vector(self) -> np.ndarray:
        """The totals as one int64 vector (counters, then abs_sum per channel): how a process
        that cannot return objects (a Lava process) hands them over."""
        return np.concatenate([[getattr(self, c) for c in self.COUNTERS], self.abs_sum]).astype(np.int64)

    @classmethod
    def from_vector(cls, vec: np.ndarray) -> "SpikeStats":
        vec = np.asarray(vec).astype(np.int64)
        head = len(cls.COUNTERS)
        return cls(len(vec) - head, abs_sum=vec[head:].copy(), **{c: int(v) for c, v in zip(cls.COUNTERS, vec[:head])})

    def summary(self) -> dict:
        n = max(self.tokens * self.channels, 1)
        return {
            "tokens": self.tokens,
            "channels": self.channels,
            "spikes_per_channel": float(self.abs_sum.sum() / n),
            "bitwise_spikes_per_channel": self.bit_spikes / n,
            "zero_fraction": self.zeros / n,
            "share_le_7": self.small / n,
            "sparsity": 1.0 - self.bit_spikes / max(self.bit_slots, 1),
            "silent_channels": int((self.abs_sum == 0).sum()),
            "max_count": self.max_abs,
        }


def total(stats: dict[str, SpikeStats]) -> dict:
    """The model-wide figures, weighting each op by its (token, channel) counts."""
    if not stats:
        return {}
    n = sum(s.tokens * s.channels for s in stats.values()) or 1
    return {
        "spikes_per_channel": sum(float(s.abs_sum.sum()) for s in stats.values()) / n,
        "bitwise_spikes_per_channel": sum(s.bit_spikes for s in stats.values()) / n,
        "zero_fraction": sum(s.zeros for s in stats.values()) / n,
        "share_le_7": sum(s.small for s in stats.values()) / n,
        "sparsity": 1.0 - sum(s.bit_spikes for s in stats.values()) / max(sum(s.bit_slots for s in stats.values()), 1),
        "silent_channel_fraction": sum(int((s.abs_sum == 0).sum()) for s in stats.values())
        / max(sum(s.channels for s in stats.values()), 1),
    }
