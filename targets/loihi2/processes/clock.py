"""What every process of ours needs to know about time and activity: which steps carry a token
(the injector tags each token with its position + 1, seen `latency` steps late), and the spike
statistics of those steps, kept as one int64 vector that the session reads back as a Lava Var."""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from sbcompile.ir.activity import SpikeStats


class DelayLine:
    """What went in `delay` steps ago (None until that many steps have passed)."""

    def __init__(self, delay: int) -> None:
        self.items: deque = deque(maxlen=delay + 1)

    def push(self, item: Any) -> Any:
        self.items.append(item)
        return self.items[0] if len(self.items) == self.items.maxlen else None


class TokenClock:
    def __init__(self, latency: int) -> None:
        self.tags = DelayLine(latency)

    def tick(self, head: np.ndarray) -> int:
        """Take this step's injector payload; the tag of the token this process sees now (0: none)."""
        tag = self.tags.push(int(head[0]))
        return 0 if tag is None else tag


def stats_size(spec: dict) -> int:
    """Length of a process's stats Var (at least 1: Lava has no empty Vars)."""
    return max(1, sum(len(SpikeStats.COUNTERS) + channels for _, channels in spec["params"]["stats"]))


class StatsRecorder:
    def __init__(self, values: list[list]) -> None:
        self.names = [v for v, _ in values]
        self.stats = {v: SpikeStats(channels) for v, channels in values}

    def add(self, counts: dict[str, np.ndarray]) -> np.ndarray:
        for name, c in counts.items():
            self.stats[name].add(c)
        return self.vector()

    def vector(self) -> np.ndarray:
        parts = [self.stats[v].to_vector() for v in self.names]
        return np.concatenate(parts) if parts else np.zeros(1, np.int64)


def read_stats(vec: np.ndarray, values: list[list]) -> dict[str, SpikeStats]:
    """The inverse of StatsRecorder.vector, on the values read back from the Var."""
    out, at = {}, 0
    for name, channels in values:
        size = len(SpikeStats.COUNTERS) + channels
        out[name] = SpikeStats.from_vector(np.rint(vec[at:at + size]))
        at += size
    return out
