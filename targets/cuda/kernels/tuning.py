"""Autotuning per flavour, and what changes when kernels run in Triton's CPU interpreter.

Flavours: `cuda` (NVIDIA, tuned for the H100) and `metax` (MetaX mcTriton: 64-lane warps, at most
16 warps, no Hopper-only paths). Every kernel here is plain `triton.language` (pointer loads, `tl.dot`,
no TMA, no warp specialisation, no lane-count assumption), so a flavour only picks the config space.
The interpreter cannot benchmark configs (it has no driver), so there each kernel keeps its first."""

from __future__ import annotations

import os
from typing import Callable, Literal

import triton

Flavour = Literal["cuda", "metax"]
FLAVOURS: tuple[Flavour, ...] = ("cuda", "metax")


def interpreting() -> bool:
    """True when kernels run in Triton's numpy interpreter (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def autotuned(fn: triton.JITFunction, configs: dict[Flavour, list[triton.Config]], key: list[str],
              **kwargs: object) -> dict[Flavour, Callable]:
    """One autotuner per flavour over the same kernel source; a single config when interpreting."""
    out: dict[Flavour, Callable] = {}
    for flavour in FLAVOURS:
        cfgs = configs[flavour][:1] if interpreting() else configs[flavour]
        out[flavour] = triton.autotune(configs=cfgs, key=key, **kwargs)(fn)
    return out


def config(num_warps: int, num_stages: int, **meta: int) -> triton.Config:
    """A triton.Config with the launch options spelled out (MetaX caps num_warps at 16)."""
    return triton.Config(dict(meta), num_warps=num_warps, num_stages=num_stages)
