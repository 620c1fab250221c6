"""Spike-count GEMV for decode (one token): int8 counts x int8 weights, split over K, exact.

At one token the GEMM is a weight stream, and a tensor-core tile over output columns alone leaves
most SMs idle on the narrow projections (N = 3584 at block 32 is 112 programs). Here the K axis is
split too, so every SM streams weights. Each program's int32 partial sum goes into a workspace by
integer atomic add (exact and order-free), a per-column-block counter tells the last program of
the block to take the sum (resetting workspace and counter for the next call, or graph replay) and
apply the epilogue of spike_gemm in its order: y = (float32(acc) * scale[n]) * vth (+ bias[n]),
then (fuse-residual) + residual[n] in float32, then (fuse-activation's ReLU) max(y, floor[n]) before
the one rounding to the output dtype.
Per-output-channel scales only: grouped scales sum float partials in group order, which a split
would reorder."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import pdl
from .tiles import cdiv
from .tuning import Flavour, autotuned, config


@triton.jit
def _spike_gemv_kernel(s_ptr, w_ptr, scale_ptr, vth_ptr, bias_ptr, res_ptr, floor_ptr, y_ptr, ws_ptr, cnt_ptr, N, K,
                       stride_wn, HAS_BIAS: tl.constexpr, HAS_RES: tl.constexpr, HAS_FLOOR: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                       DOT: tl.constexpr, PROGRAMS: tl.constexpr, PDL: tl.constexpr):
    pdl.entry(PDL)
    pid_n = tl.program_id(0)
    sp = tl.program_id(1)
    splits = tl.num_programs(1)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    wn = (rn % N).to(tl.int64)
    per = tl.cdiv(tl.cdiv(K, BLOCK_K), splits) * BLOCK_K
    lo = sp * per
    hi = tl.minimum(lo + per, K)
    if DOT:  # the int8 tensor cores do the multiply-adds; all 16 rows of the tile hold the one token
        acc16 = tl.zeros([16, BLOCK_N], dtype=tl.int32)
        for k0 in range(lo, hi, BLOCK_K):
            ks = k0 + rk
            s = tl.load(s_ptr + ks, mask=ks < hi, other=0)
            w = tl.load(w_ptr + wn[None, :] * stride_wn + ks[:, None], mask=(ks < hi)[:, None], other=0)
            acc16 = tl.dot(tl.broadcast_to(s[None, :], (16, BLOCK_K)), w, acc16, out_dtype=tl.int32)
        acc = tl.max(acc16, axis=0)
    else:
        acc = tl.zeros([BLOCK_N], dtype=tl.int32)
        for k0 in range(lo, hi, BLOCK_K):
            ks = k0 + rk
            s = tl.load(s_ptr + ks, mask=ks < hi, other=0).to(tl.int32)
            w = tl.load(w_ptr + wn[:, None] * stride_wn + ks[None, :], mask=(ks < hi)[None, :], other=0)
            acc += tl.sum(w.to(tl.int32) * s[None, :], axis=1)
    last = splits == 1
    if splits > 1:
        tl.atomic_add(ws_ptr + rn, acc, mask=rn < N)
        tl.debug_barrier()  # every lane's add lands before the block's counter moves
        done = tl.atomic_add(cnt_ptr + pid_n, 1)
        last = done == splits - 1
        if last:
            acc = tl.atomic_xchg(ws_ptr + rn, tl.zeros([BLOCK_N], dtype=tl.int32), mask=rn < N)
            tl.atomic_xchg(cnt_ptr + pid_n, 0)
    if last:
        y = (acc.to(tl.float32) * tl.load(scale_ptr + wn)) * tl.load(vth_ptr)
        if HAS_BIAS:
            y = y + tl.load(bias_ptr + wn)
        if HAS_RES:
            y = y + tl.load(res_ptr + wn).to(tl.float32)
        if HAS_FLOOR:
            y = tl.maximum(y, tl.load(floor_ptr + wn))
        tl.store(y_ptr + rn, y.to(y_ptr.dtype.element_ty), mask=rn < N)


def _config(warps: int, stages: int, block_n: int, block_k: int, dot: int, programs: int = 1024) -> triton.Config:
    """PROGRAMS: how many programs the K split aims for (a few waves over the SMs)."""
    return config(warps, stages, BLOCK_N=block_n, BLOCK_K=block_k, DOT=dot, PROGRAMS=programs)


_CONFIGS = {
    "cuda": [_config(4, 4, 32, 256, 1), _config(4, 4, 64, 128, 1), _config(4, 3, 32, 512, 1),
             _config(8, 4, 64, 256, 1), _config(4, 6, 16, 256, 1), _config(4, 4, 32, 256, 1, 2048),
             _config(4, 5, 64, 256, 1, 2048), _config(4, 4, 64, 128, 1, 4096), _config(4, 3, 16, 512, 0),
             _config(4, 3, 32, 256, 0), _config(4, 3, 8, 1024, 0)],
    "metax": [_config(4, 2, 32, 256, 1), _config(4, 2, 16, 512, 0)],
}
_TUNED = autotuned(_spike_gemv_kernel, _CONFIGS, key=["N", "K", "HAS_BIAS", "HAS_RES", "HAS_FLOOR"])
_WORKSPACES: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _workspace(n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Zeroed int32 sums [N] and counters (one per smallest column block), kept per (N, device): every
    call leaves them zero, so calls on one stream (and graph replays) share them."""
    key = (n, device)
    if key not in _WORKSPACES:
        _WORKSPACES[key] = (torch.zeros(n, dtype=torch.int32, device=device),
                            torch.zeros(cdiv(n, 8), dtype=torch.int32, device=device))
    return _WORKSPACES[key]


def _splits(n: int, k: int, block_n: int, block_k: int, programs: int = 1024) -> int:
    steps = cdiv(k, block_k)
    return max(1, min(steps, programs // cdiv(n, block_n)))


def spike_gemv(s: torch.Tensor, w: torch.Tensor, scale: torch.Tensor, vth: torch.Tensor,
               bias: torch.Tensor | None = None, *, residual: torch.Tensor | None = None,
               floor: torch.Tensor | None = None, out_dtype: torch.dtype = torch.float32,
               flavour: Flavour = "cuda") -> torch.Tensor:
    """One token: s int8 [1, K], w int8 [N, K], scale f32 [N], vth f32 [1, 1] -> y [1, N], equal to
    spike_gemm's; with `residual` [1, N] (fuse-residual), y + residual, added in float32 before the
    one rounding to out_dtype; with `floor` f32 [N], max(y, floor) (0 for a ReLU, -inf for none)."""
    n, k = w.shape
    assert s.dtype == torch.int8 and w.dtype == torch.int8 and s.numel() == k, "int8 [1,K] x int8 [N,K]"
    assert scale.numel() == n, "one scale per output row"
    s = s.reshape(-1)
    y = torch.empty((1, n), dtype=out_dtype, device=s.device)
    ws, cnt = _workspace(n, s.device)
    grid = lambda meta: (cdiv(n, meta["BLOCK_N"]),
                         _splits(n, k, meta["BLOCK_N"], meta["BLOCK_K"], meta["PROGRAMS"]))
    res = residual.reshape(-1).contiguous() if residual is not None else scale
    _TUNED[flavour][grid](s, w, scale, vth, bias if bias is not None else scale, res,
                          floor if floor is not None else scale, y, ws, cnt, n, k, w.stride(0),
                          HAS_BIAS=bias is not None, HAS_RES=residual is not None, HAS_FLOOR=floor is not None,
                          enable_fp_fusion=False, **pdl.options(flavour, s))
    return y
