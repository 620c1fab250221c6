"""Rotate-half RoPE in one pass: a row of [heads * head_dim] read once, both halves rotated in
float32 with angles position * inv_freq, written once (the PyTorch form is a dozen elementwise
launches, which dominate a decode step's glue). Positions come from a device tensor plus an offset,
so a captured decode step reads the current position without a host copy."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import pdl
from .tiles import pow2
from .tuning import Flavour, autotuned, config


@triton.jit
def _rope_kernel(x_ptr, y_ptr, pos_ptr, inv_ptr, start, stride_x, H,
                 D: tl.constexpr, HALF: tl.constexpr, BLOCK_H: tl.constexpr, PDL: tl.constexpr):
    pdl.entry(PDL)
    row = tl.program_id(0)
    pos = (tl.load(pos_ptr) + start + row).to(tl.float32)
    i = tl.arange(0, HALF)
    ang = pos * tl.load(inv_ptr + i)
    c, s = tl.cos(ang)[None, :], tl.sin(ang)[None, :]
    h = tl.arange(0, BLOCK_H)
    mask = (h < H)[:, None]
    src = x_ptr + row.to(tl.int64) * stride_x + h[:, None] * D + i[None, :]
    dst = y_ptr + row.to(tl.int64) * H * D + h[:, None] * D + i[None, :]
    x1 = tl.load(src, mask=mask, other=0.0).to(tl.float32)
    x2 = tl.load(src + HALF, mask=mask, other=0.0).to(tl.float32)
    tl.store(dst, (x1 * c - x2 * s).to(y_ptr.dtype.element_ty), mask=mask)
    tl.store(dst + HALF, (x2 * c + x1 * s).to(y_ptr.dtype.element_ty), mask=mask)


_CONFIGS = {"cuda": [config(4, 1), config(2, 1), config(8, 1)], "metax": [config(4, 1), config(2, 1)]}
_TUNED = autotuned(_rope_kernel, _CONFIGS, key=["H", "D"])


def rope(x: torch.Tensor, pos: torch.Tensor, start: int, inv_freq: torch.Tensor, heads: int,
         *, flavour: Flavour = "cuda") -> torch.Tensor:
    """x [T, heads * D] (unit column stride), row t at position pos[0] + start + t; inv_freq float32
    [D / 2]; D a power of two. -> [T, heads * D] in x's dtype."""
    t, width = x.shape
    d = width // heads
    assert d * heads == width and d >= 2 and d & (d - 1) == 0 and x.stride(-1) == 1, "head_dim: a power of two"
    y = torch.empty((t, width), dtype=x.dtype, device=x.device)
    _TUNED[flavour][(t,)](x, y, pos, inv_freq, start, x.stride(0), heads, D=d, HALF=d // 2,
                          BLOCK_H=pow2(heads), **pdl.options(flavour, x))
    return y
