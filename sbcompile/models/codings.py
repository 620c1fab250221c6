"""Spike codings: integer counts as spike trains over virtual time steps, and back, exactly.

binary: unsigned, one spike (+1) per unit, `steps` = the largest count.
ternary: one spike of the count's sign per unit (+-1), `steps` = the largest |count|.
bitwise: sign and magnitude, one step per bit, most significant bit first; a spike is
  sign(count) at each set bit (bidirectional); `steps` = bit length of the largest |count|.
twos_complement: unsigned bits of the two's-complement code, most significant (the sign,
  weighted -2^(T-1)) first; `steps` = bit length of the largest |count| plus one.
Every train has shape [steps, *counts.shape] and decodes back to the counts exactly."""

from __future__ import annotations

from typing import Literal

import torch

Coding = Literal["binary", "ternary", "bitwise", "twos_complement"]


def steps_needed(counts: torch.Tensor, coding: Coding) -> int:
    m = int(counts.abs().max()) if counts.numel() else 0
    if coding in ("binary", "ternary"):
        return max(m, 1)
    bits = max(m.bit_length(), 1)
    return bits + 1 if coding == "twos_complement" else bits


def encode(counts: torch.Tensor, coding: Coding, steps: int | None = None) -> torch.Tensor:
    c = counts.to(torch.int64)
    if coding == "binary" and bool((c < 0).any()):
        raise ValueError("binary coding carries non-negative counts only")
    T = steps if steps is not None else steps_needed(c, coding)
    if T < steps_needed(c, coding):
        raise ValueError(f"{coding} coding needs {steps_needed(c, coding)} steps for these counts, got {T}")
    t = torch.arange(T, dtype=torch.int64).reshape(-1, *([1] * c.dim()))
    if coding in ("binary", "ternary"):
        return (torch.sign(c) * (t < c.abs())).to(torch.int8)
    if coding == "bitwise":
        return (torch.sign(c) * ((c.abs() >> (T - 1 - t)) & 1)).to(torch.int8)
    code = c & ((1 << T) - 1)  # two's complement in T bits
    return ((code >> (T - 1 - t)) & 1).to(torch.int8)


def decode(train: torch.Tensor, coding: Coding) -> torch.Tensor:
    s = train.to(torch.int64)
    T = s.shape[0]
    if coding in ("binary", "ternary"):
        return s.sum(0)
    weights = (2 ** torch.arange(T - 1, -1, -1, dtype=torch.int64)).reshape(-1, *([1] * (s.dim() - 1)))
    if coding == "twos_complement":
        weights = weights.clone()
        weights[0] = -weights[0]
    return (s * weights).sum(0)
