"""Seeded random weights for a module traced without them (a preset: shape-only weights), made
on the device that runs it, so that a 7B compiles and runs on a GPU without a checkpoint file.

The compiled module carries the seed as its `weights_seed` attribute; each weight is drawn from its
own generator seeded by (seed, name), so a weight does not depend on which others were drawn first.
Scales follow the layer runner's: int8 codes uniform in ±127 (std about 73.6) times one scale per
output row near 1 / (73.6 * sqrt(fan_in)), so projections keep unit-scale activations."""

from __future__ import annotations

import math
import zlib

import torch

SEED_ATTR = "weights_seed"
PREFIX = "random:"


def parse_spec(source: str) -> tuple[str, int] | None:
    """`random:PRESET` or `random:PRESET:SEED` -> (preset, seed); anything else -> None."""
    if not source.startswith(PREFIX):
        return None
    name, _, seed = source[len(PREFIX):].partition(":")
    return name, int(seed) if seed.isdigit() else 0


def _generator(seed: int, name: str, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))


def random_weight(name: str, shape: tuple[int, ...], dtype: str, role: str, fan_in: int, seed: int,
                  device: torch.device) -> torch.Tensor:
    """One weight. `role`: codes (integers), scale (per output row), bias, norm, embed or float
    (a float projection); `fan_in` sizes scales and float projections."""
    g = _generator(seed, name, device)
    if role == "codes":
        hi = 2 ** (int(dtype[1:]) - 1) - 1  # i8 -> 127
        return torch.randint(-hi, hi + 1, shape, generator=g, device=device, dtype=torch.int32)
    if role == "scale":
        return (0.5 + torch.rand(shape, generator=g, device=device)) / (73.6 * math.sqrt(fan_in))
    std = {"bias": 0.1, "norm": 0.1, "embed": 1.0, "float": fan_in ** -0.5}.get(role, 0.1)
    w = torch.randn(shape, generator=g, device=device) * std
    return w + 1.0 if role == "norm" else w
