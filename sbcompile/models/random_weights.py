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

from sbcompile.ir import SbirError

from .config import SpikeOptions

SEED_ATTR = "weights_seed"
PREFIX = "random:"


def parse_spec(source: str) -> tuple[str, int, SpikeOptions | None] | None:
    """`random:PRESET[:SEED][:paper]` -> (preset, seed, spike options); anything else -> None.
    `paper` spikes every projection as the paper does (down_proj too), with no per-head query coding
    and no K/V rounding (the layer runner's form); otherwise the options are the caller's (the release's)."""
    if not source.startswith(PREFIX):
        return None
    parts = source[len(PREFIX):].split(":")
    paper = parts[-1] == "paper"
    parts = parts[:-1] if paper else parts
    if len(parts) > 2 or len(parts) == 2 and not parts[1].isdigit():
        raise SbirError(f"{source}: expected random:PRESET[:SEED][:paper] with SEED a non-negative integer")
    seed = int(parts[1]) if len(parts) == 2 else 0
    return parts[0], seed, SpikeOptions(spike_down_proj=True, swa_query=False, kv_bits=None) if paper else None


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
