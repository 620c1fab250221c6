"""Per-group scale and round in one pass, for the two per-vector codings of SpikingBrain's SWA block:
the query's spike coding per head (V_th = clamp(mean|x| / k, lo, hi), counts = round(x / V_th)) and
the keys' and values' int8 rounding (s = max(amax|x| / 127, 1e-12), round(x / s) clamped to
[-128, 127], times s). float32 math, rounding half to even by floor and a parity test."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .tiles import pow2
from .tuning import Flavour, autotuned, config


@triton.jit
def _group_quant_kernel(x_ptr, y_ptr, s_ptr, stride_x, C, div, lo, hi, qlo, qhi,
                        G: tl.constexpr, BLOCK_G: tl.constexpr, AMAX: tl.constexpr, DEQUANT: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    g = tl.arange(0, BLOCK_G)
    j = tl.arange(0, G)
    mask = (g < C // G)[:, None]
    x = tl.load(x_ptr + row * stride_x + g[:, None] * G + j[None, :], mask=mask, other=0.0).to(tl.float32)
    if AMAX:
        stat = tl.max(tl.abs(x), axis=1)
    else:
        stat = tl.sum(tl.abs(x), axis=1) / G
    s = tl.minimum(tl.maximum(stat / div, lo), hi)[:, None]
    r = x / s
    f = tl.floor(r)
    half = f * 0.5
    up = (r - f > 0.5) | ((r - f == 0.5) & (half - tl.floor(half) != 0.0))
    q = tl.minimum(tl.maximum(tl.where(up, f + 1.0, f), qlo), qhi)
    out = q * s if DEQUANT else q
    tl.store(y_ptr + row * C + g[:, None] * G + j[None, :], out.to(y_ptr.dtype.element_ty), mask=mask)
    tl.store(s_ptr + row * (C // G) + g[:, None], s, mask=mask)


_CONFIGS = {"cuda": [config(4, 1), config(8, 1), config(2, 1)], "metax": [config(4, 1), config(8, 1)]}
_TUNED = autotuned(_group_quant_kernel, _CONFIGS, key=["C", "G", "AMAX", "DEQUANT"])


def group_quant(x: torch.Tensor, group: int, *, amax: bool, div: float, lo: float, hi: float, qlo: float,
                qhi: float, dequant: bool, out_dtype: torch.dtype, flavour: Flavour = "cuda"
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """x [T, C] (unit column stride), groups of `group` channels (a power of two): scale s =
    clamp(stat / div, lo, hi) with stat = amax|x| or mean|x|, q = clamp(round(x / s), qlo, qhi).
    -> (q or q * s in out_dtype [T, C], s float32 [T, C / group, 1])."""
    t, c = x.shape
    assert c % group == 0 and group & (group - 1) == 0 and x.stride(-1) == 1, "groups: a power of two"
    y = torch.empty((t, c), dtype=out_dtype, device=x.device)
    s = torch.empty((t, c // group, 1), dtype=torch.float32, device=x.device)
    _TUNED[flavour][(t,)](x, y, s, x.stride(0), c, div, lo, hi, qlo, qhi, G=group,
                          BLOCK_G=pow2(c // group), AMAX=amax, DEQUANT=dequant)
    return y, s
