"""Programmatic dependent launch (PDL) for the decode chain's kernels.

A decode step is hundreds of short dependent kernels; between two of them the GPU drains one grid
and launches the next. With PDL (NVIDIA sm_90+) a kernel is launched while its producer still runs:
its programs become resident, then wait at `entry` until the producer has finished and its writes
are visible. Every memory access of a PDL kernel comes after `entry`, so the ordering is the
stream's, only the launch gap is hidden; a CUDA graph keeps the edges. The `metax` flavour and
Triton's interpreter launch plainly (the flag is a constexpr: the branch is not even compiled)."""

from __future__ import annotations

import functools
from typing import Any

import torch
import triton
import triton.language as tl

from .tuning import Flavour, interpreting


@triton.jit
def entry(PDL: tl.constexpr):
    """Wait for the producer grid, then let the next kernel launch: call first, before any load."""
    if PDL:
        tl.extra.cuda.gdc_wait()
        tl.extra.cuda.gdc_launch_dependents()


@functools.lru_cache(maxsize=16)
def _hopper(index: int) -> bool:
    return torch.cuda.get_device_capability(index)[0] >= 9


def options(flavour: Flavour, x: torch.Tensor) -> dict[str, Any]:
    """The kernel arguments for a launch over `x`: PDL on (the constexpr and Triton's launch option)
    for the cuda flavour on an sm_90+ GPU, else off. One shared dict per (flavour, device): callers
    unpack it, and an eager decode step asks hundreds of times."""
    return _options(flavour, x.device)


@functools.lru_cache(maxsize=16)
def _options(flavour: Flavour, device: torch.device) -> dict[str, Any]:
    on = flavour == "cuda" and device.type == "cuda" and not interpreting() and _hopper(device.index or 0)
    return {"PDL": True, "launch_pdl": True} if on else {"PDL": False}
