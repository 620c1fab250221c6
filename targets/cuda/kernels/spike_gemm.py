"""Spike-count GEMM: int8 counts x int8 weights on the integer tensor cores, dequantized in the epilogue.

y[m, n] = (float32(acc[m, n]) * scale[n]) * vth[m] (+ bias[n]), acc = sum_k s[m, k] * w[n, k] in int32,
exact; with a residual r [M, N] (fuse-residual), y + r in float32, and with a floor f [N]
(fuse-activation's ReLU: 0, or -inf for a column without one) max(y, f), before the one rounding to
the output dtype, as spike_gemv's epilogue. The float epilogue keeps that order and is launched with enable_fp_fusion=False so no
multiply-add is contracted into an FMA: a float32 reference with the same order matches bit for bit.

Group variant (weights quantized per `group` = 128 input channels, scales [N, K/group]): every
K step is one group, its int32 partial sum is scaled and added in float32 in group order:
y = ((sum_g float32(acc_g) * scale[n, g]) * vth[m]) (+ bias). Sequential float32 in that order
is reproducible, and against a float64 reference the relative error is about groups * 2^-24.

SwiGLU variant (fuse-swiglu, spike_gemm_swiglu): w's rows interleave gate and up, and the epilogue
writes SiLU(gate) * up and its partial |h| sums instead of y (swiglu.py)."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import spike_gemm_tma, swiglu
from .swiglu import store_swiglu
from .tiles import cdiv, tile_ids
from .tuning import Flavour, autotuned, config, interpreting


@triton.jit
def _spike_gemm_kernel(s_ptr, w_ptr, scale_ptr, vth_ptr, bias_ptr, res_ptr, floor_ptr, y_ptr, part_ptr, M, N, K,
                       stride_sm, stride_wn, stride_ym, stride_scale, stride_rm,
                       HAS_BIAS: tl.constexpr, HAS_RES: tl.constexpr, HAS_FLOOR: tl.constexpr, GROUPED: tl.constexpr,
                       SWIGLU: tl.constexpr, EVEN_K: tl.constexpr,
                       BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                       GROUP_M: tl.constexpr):
    pid_m, pid_n = tile_ids(M, N, BLOCK_M, BLOCK_N, GROUP_M)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    # wrap rows/cols instead of masking loads: out-of-range lanes compute garbage that is never stored
    am = (rm % M).to(tl.int64)
    wn = (rn % N).to(tl.int64)
    s_ptrs = s_ptr + am[:, None] * stride_sm + rk[None, :]
    w_ptrs = w_ptr + wn[None, :] * stride_wn + rk[:, None]
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.int32)
    accf = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        if EVEN_K:
            a = tl.load(s_ptrs)
            b = tl.load(w_ptrs)
        else:
            a = tl.load(s_ptrs, mask=rk[None, :] < K - k0, other=0)
            b = tl.load(w_ptrs, mask=rk[:, None] < K - k0, other=0)
        if GROUPED:
            part = tl.dot(a, b, out_dtype=tl.int32)
            gs = tl.load(scale_ptr + wn * stride_scale + k0 // BLOCK_K)
            accf = accf + part.to(tl.float32) * gs[None, :]
        else:
            acc = tl.dot(a, b, acc, out_dtype=tl.int32)
        s_ptrs += BLOCK_K
        w_ptrs += BLOCK_K
    vth = tl.load(vth_ptr + am)
    if GROUPED:
        y = accf * vth[:, None]
    else:
        scale = tl.load(scale_ptr + wn)
        y = (acc.to(tl.float32) * scale[None, :]) * vth[:, None]
    if HAS_BIAS:
        y = y + tl.load(bias_ptr + wn)[None, :]
    mask = (rm[:, None] < M) & (rn[None, :] < N)
    if HAS_RES:
        y = y + tl.load(res_ptr + rm.to(tl.int64)[:, None] * stride_rm + rn[None, :], mask=mask, other=0.0).to(tl.float32)
    if HAS_FLOOR:
        y = tl.maximum(y, tl.load(floor_ptr + wn)[None, :])
    if SWIGLU:
        store_swiglu(y, rm, pid_n, M, N, y_ptr, part_ptr, stride_ym, BLOCK_M, BLOCK_N)
    else:
        tl.store(y_ptr + rm.to(tl.int64)[:, None] * stride_ym + rn[None, :], y.to(y_ptr.dtype.element_ty), mask=mask)


def _gemm_config(bm: int, bn: int, bk: int, warps: int, stages: int) -> triton.Config:
    return config(warps, stages, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=8)


_CONFIGS = {
    "cuda": [_gemm_config(128, 256, 128, 8, 3), _gemm_config(256, 128, 128, 8, 3),
             _gemm_config(128, 128, 128, 8, 4), _gemm_config(128, 256, 64, 8, 4),
             _gemm_config(128, 256, 128, 8, 4), _gemm_config(256, 128, 128, 8, 4),
             _gemm_config(128, 128, 128, 4, 4), _gemm_config(64, 128, 128, 4, 4)],
    "metax": [_gemm_config(128, 128, 128, 8, 2), _gemm_config(64, 128, 128, 4, 2),
              _gemm_config(128, 64, 128, 4, 2)],
}
# M <= SMALL_M (decode): a 16-row tile (the smallest int8 tl.dot) and narrow column blocks, so that
# the weight stream is spread over many programs (a 128-row tile would leave most SMs idle)
_SMALL_CONFIGS = {
    "cuda": [_gemm_config(16, 32, 128, 4, 6), _gemm_config(16, 64, 128, 4, 6), _gemm_config(16, 16, 128, 4, 8),
             _gemm_config(16, 32, 128, 2, 8), _gemm_config(16, 128, 128, 4, 4)],
    "metax": [_gemm_config(16, 32, 128, 4, 2), _gemm_config(16, 64, 128, 4, 2)],
}
SMALL_M = 16
# the group variant needs one group per K step
_GROUP_CONFIGS = {f: [c for c in cs if c.kwargs["BLOCK_K"] == 128] for f, cs in _CONFIGS.items()}
# fuse-swiglu's tiles hold whole partial sums (swiglu.PART), at any token count
_SWIGLU_CONFIGS = {f: [c for c in cs if swiglu.fits(c)] for f, cs in _CONFIGS.items()}
_KEY = ["M", "N", "K", "HAS_BIAS", "HAS_RES", "HAS_FLOOR", "SWIGLU", "EVEN_K"]
_TUNED = autotuned(_spike_gemm_kernel, _CONFIGS, key=_KEY)
_TUNED_SWIGLU = autotuned(_spike_gemm_kernel, _SWIGLU_CONFIGS, key=_KEY)
_TUNED_SMALL = autotuned(_spike_gemm_kernel, _SMALL_CONFIGS, key=_KEY)
_TUNED_GROUPED = autotuned(_spike_gemm_kernel, _GROUP_CONFIGS, key=_KEY)
GROUP = 128


def _launch(s: torch.Tensor, w: torch.Tensor, scale: torch.Tensor, vth: torch.Tensor, bias: torch.Tensor | None,
            residual: torch.Tensor | None, floor: torch.Tensor | None, out_dtype: torch.dtype, grouped: bool,
            flavour: Flavour, swiglu_parts: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    lead = s.shape[:-1]
    s2 = s.reshape(-1, s.shape[-1]).contiguous()
    m, k = s2.shape
    n = w.shape[0]
    assert s2.dtype == torch.int8 and w.dtype == torch.int8 and w.shape[1] == k, "int8 [M,K] x int8 [N,K]"
    w = w.contiguous()
    vth = vth.reshape(-1).to(torch.float32).contiguous()
    scale = scale.to(torch.float32).reshape(n, -1).contiguous()
    if swiglu_parts:
        y, parts = swiglu.outputs(m, n, out_dtype, s.device)
    else:
        y, parts = torch.empty((m, n), dtype=out_dtype, device=s.device), None
    bias = bias.to(torch.float32).contiguous() if bias is not None else None
    res = residual.reshape(m, n) if residual is not None else None
    if res is not None and res.stride(-1) != 1:
        res = res.contiguous()
    small = m <= SMALL_M and not grouped
    if flavour == "cuda" and not small and not interpreting() and spike_gemm_tma.usable(s2):
        spike_gemm_tma.launch(s2, w, scale, vth, bias, res, floor, y, grouped, parts)
    else:
        grid = lambda meta: (cdiv(m, meta["BLOCK_M"]) * cdiv(n, meta["BLOCK_N"]),)
        tuned = (_TUNED_SWIGLU if swiglu_parts else _TUNED_GROUPED if grouped else _TUNED_SMALL if small
                 else _TUNED)[flavour]
        tuned[grid](s2, w, scale, vth, bias if bias is not None else scale, res if res is not None else y,
                    floor if floor is not None else scale, y, parts if parts is not None else scale, m, n, k,
                    s2.stride(0), w.stride(0), y.stride(0), scale.stride(0), res.stride(0) if res is not None else 0,
                    HAS_BIAS=bias is not None, HAS_RES=res is not None, HAS_FLOOR=floor is not None, GROUPED=grouped,
                    SWIGLU=swiglu_parts, EVEN_K=k % 128 == 0, enable_fp_fusion=False)
    if parts is not None:
        return y.reshape(*lead, n // 2), parts.reshape(*lead, parts.shape[-1])
    return y.reshape(*lead, n)


def spike_gemm(s: torch.Tensor, w: torch.Tensor, scale: torch.Tensor, vth: torch.Tensor,
               bias: torch.Tensor | None = None, *, residual: torch.Tensor | None = None,
               floor: torch.Tensor | None = None, out_dtype: torch.dtype = torch.float32,
               flavour: Flavour = "cuda") -> torch.Tensor:
    """Per-output-channel weights: s int8 [..., K], w int8 [N, K], scale f32 [N], vth f32 [..., 1];
    `residual` [..., N] is added in the epilogue (fuse-residual), then `floor` f32 [N] bounds y below
    (fuse-activation's ReLU)."""
    assert scale.numel() == w.shape[0], "one scale per output row"
    return _launch(s, w, scale, vth, bias, residual, floor, out_dtype, False, flavour)


def spike_gemm_grouped(s: torch.Tensor, w: torch.Tensor, scale: torch.Tensor, vth: torch.Tensor,
                       bias: torch.Tensor | None = None, *, floor: torch.Tensor | None = None,
                       out_dtype: torch.dtype = torch.float32, flavour: Flavour = "cuda") -> torch.Tensor:
    """Per-group-of-128 weights: scale f32 [N, K/128] (or W8ASpike's [N, K/128, 1]); K % 128 == 0."""
    assert s.shape[-1] % GROUP == 0 and scale.numel() == w.shape[0] * (s.shape[-1] // GROUP), \
        "K must be a multiple of 128 and scale [N, K/128]"
    return _launch(s, w, scale, vth, bias, None, floor, out_dtype, True, flavour)


def spike_gemm_swiglu(s: torch.Tensor, w: torch.Tensor, scale: torch.Tensor, vth: torch.Tensor,
                      bias: torch.Tensor | None = None, *, out_dtype: torch.dtype = torch.float32,
                      flavour: Flavour = "cuda") -> tuple[torch.Tensor, torch.Tensor]:
    """fuse-swiglu's gate/up projection: w [2N, K] and scale (and bias) [2N] interleave gate and up
    rows (swiglu.interleave). -> h = SiLU(gate) * up [..., N] in out_dtype and float64 |h| sums per
    swiglu.PART columns [..., ceil(N / PART)]; gate and up are never written."""
    assert w.shape[0] % 2 == 0 and scale.numel() == w.shape[0], "interleaved gate/up rows, one scale per row"
    return _launch(s, w, scale, vth, bias, None, None, out_dtype, False, flavour, swiglu_parts=True)
