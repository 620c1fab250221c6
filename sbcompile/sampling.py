"""Choosing the next token from logits: greedy at temperature 0, else a draw from the softmax of
logits / temperature, optionally over the `top_k` most likely tokens only; seeded, so the same
options give the same text."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sbcompile.ir import SbirError


@dataclass
class Sampler:
    temperature: float = 0.0
    top_k: int = 0  # 0: all tokens
    seed: int = 0
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.temperature >= 0:
            raise SbirError(f"--temperature must be 0 (greedy) or positive, got {self.temperature}")
        if self.top_k < 0:
            raise SbirError(f"--top-k must be 0 (all tokens) or positive, got {self.top_k}")
        self.rng = np.random.default_rng(self.seed)

    def __call__(self, logits: np.ndarray) -> int:
        z = np.asarray(logits, np.float64).reshape(-1)
        if self.temperature == 0 or self.top_k == 1:
            return int(np.argmax(z))
        z = z / self.temperature
        if 0 < self.top_k < z.size:
            cut = np.partition(z, -self.top_k)[-self.top_k]
            z = np.where(z >= cut, z, -np.inf)
        p = np.exp(z - z.max())
        return int(self.rng.choice(z.size, p=p / p.sum()))
