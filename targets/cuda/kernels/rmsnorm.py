"""Fused RMSNorm, over whole rows or per group of channels (GLA's g_norm normalises each 128-wide
head of a row with one shared weight): y = x / sqrt(mean(x^2) + eps) * w, in float32, one pass."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .tiles import cdiv, pow2
from .tuning import Flavour, autotuned, config


@triton.jit
def _rmsnorm_kernel(x_ptr, w_ptr, y_ptr, R, GS, NG, eps,
                    SHARED_W: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.arange(0, BLOCK_C)
    mask = (rows < R)[:, None] & (cols < GS)[None, :]
    off = rows.to(tl.int64)[:, None] * GS + cols[None, :]
    x = tl.load(x_ptr + off, mask=mask, other=0.0).to(tl.float32)
    rstd = 1.0 / tl.sqrt(tl.sum(x * x, axis=1) / GS + eps)
    if SHARED_W:
        w = tl.load(w_ptr + cols, mask=cols < GS, other=0.0).to(tl.float32)[None, :]
    else:
        w = tl.load(w_ptr + (rows % NG)[:, None] * GS + cols[None, :], mask=mask, other=0.0).to(tl.float32)
    tl.store(y_ptr + off, (x * rstd[:, None] * w).to(y_ptr.dtype.element_ty), mask=mask)


# one config: the block's shape and warp count set the float32 sum-of-squares order, so a config picked
# by timing could round differently from one process to the next (as rmsnorm_encode's)
_CONFIGS = {"cuda": [config(4, 1, BLOCK_R=4)], "metax": [config(4, 1, BLOCK_R=4)]}
_TUNED = autotuned(_rmsnorm_kernel, _CONFIGS, key=["GS", "NG", "SHARED_W"])


def rmsnorm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6, group: int | None = None,
            *, flavour: Flavour = "cuda") -> torch.Tensor:
    """Normalise x [..., D] over groups of `group` channels (None: all D). weight: [group] shared by
    every group, or [D]. Output in x's dtype."""
    d = x.shape[-1]
    gs = d if group is None else group
    assert d % gs == 0 and weight.numel() in (gs, d), "weight: [group] or [D]"
    x2 = x.contiguous().reshape(-1, gs)
    y = torch.empty_like(x2)
    r = x2.shape[0]
    grid = lambda meta: (cdiv(r, meta["BLOCK_R"]),)
    _TUNED[flavour][grid](x2, weight.contiguous(), y, r, gs, d // gs, eps,
                          SHARED_W=weight.numel() == gs, BLOCK_C=pow2(gs))
    return y.reshape(x.shape)
