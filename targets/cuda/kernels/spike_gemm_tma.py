"""Hopper-only spike GEMM main loop: the same math and epilogue as spike_gemm.py, with both int8
operand tiles brought in by the tensor-memory accelerator (TMA, host-built descriptors) instead of
per-thread pointer loads. The `cuda` flavour takes it on sm_90+ GPUs; `metax` and the interpreter
never do (TMA is NVIDIA Hopper hardware)."""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton.tools.tensor_descriptor import TensorDescriptor

from .swiglu import fits, store_swiglu
from .tiles import cdiv, tile_ids


@triton.jit
def _spike_gemm_tma_kernel(s_desc, w_desc, scale_ptr, vth_ptr, bias_ptr, res_ptr, floor_ptr, y_ptr, part_ptr, M, N, K,
                           stride_ym, stride_scale, stride_rm, HAS_BIAS: tl.constexpr, HAS_RES: tl.constexpr,
                           HAS_FLOOR: tl.constexpr, GROUPED: tl.constexpr, SWIGLU: tl.constexpr,
                           BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                           GROUP_M: tl.constexpr):
    pid_m, pid_n = tile_ids(M, N, BLOCK_M, BLOCK_N, GROUP_M)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.int32)
    accf = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        a = s_desc.load([pid_m * BLOCK_M, k0])
        b = w_desc.load([pid_n * BLOCK_N, k0])
        if GROUPED:
            gs = tl.load(scale_ptr + rn * stride_scale + k0 // BLOCK_K, mask=rn < N, other=0.0)
            accf = accf + tl.dot(a, b.T, out_dtype=tl.int32).to(tl.float32) * gs[None, :]
        else:
            acc = tl.dot(a, b.T, acc, out_dtype=tl.int32)
    vth = tl.load(vth_ptr + rm, mask=rm < M, other=0.0)
    if GROUPED:
        y = accf * vth[:, None]
    else:
        scale = tl.load(scale_ptr + rn, mask=rn < N, other=0.0)
        y = (acc.to(tl.float32) * scale[None, :]) * vth[:, None]
    if HAS_BIAS:
        y = y + tl.load(bias_ptr + rn, mask=rn < N, other=0.0)[None, :]
    mask = (rm[:, None] < M) & (rn[None, :] < N)
    if HAS_RES:
        y = y + tl.load(res_ptr + rm.to(tl.int64)[:, None] * stride_rm + rn[None, :], mask=mask, other=0.0).to(tl.float32)
    if HAS_FLOOR:
        y = tl.maximum(y, tl.load(floor_ptr + rn, mask=rn < N, other=0.0)[None, :])
    if SWIGLU:
        store_swiglu(y, rm, pid_n, M, N, y_ptr, part_ptr, stride_ym, BLOCK_M, BLOCK_N)
    else:
        tl.store(y_ptr + rm.to(tl.int64)[:, None] * stride_ym + rn[None, :], y.to(y_ptr.dtype.element_ty), mask=mask)


def _set_blocks(nargs: dict) -> None:
    """Descriptors carry their tile shape, which depends on the config under trial."""
    nargs["s_desc"].block_shape = [nargs["BLOCK_M"], nargs["BLOCK_K"]]
    nargs["w_desc"].block_shape = [nargs["BLOCK_N"], nargs["BLOCK_K"]]


def _cfg(bm: int, bn: int, bk: int, warps: int, stages: int) -> triton.Config:
    return triton.Config(dict(BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=8), num_warps=warps, num_stages=stages,
                         pre_hook=_set_blocks)


_CONFIGS = [_cfg(128, 256, 128, 8, 3), _cfg(128, 256, 128, 8, 4), _cfg(256, 128, 128, 8, 3),
            _cfg(256, 128, 128, 8, 4), _cfg(128, 128, 128, 8, 4), _cfg(128, 128, 128, 4, 5),
            _cfg(64, 128, 128, 4, 5)]
assert all(fits(c) for c in _CONFIGS), "every config must serve fuse-swiglu"
_KEY = ["M", "N", "K", "HAS_BIAS", "HAS_RES", "HAS_FLOOR", "SWIGLU"]
_TUNED = triton.autotune(_CONFIGS, key=_KEY)(_spike_gemm_tma_kernel)
_TUNED_GROUPED = triton.autotune([c for c in _CONFIGS if c.kwargs["BLOCK_K"] == 128], key=_KEY)(_spike_gemm_tma_kernel)


def usable(s: torch.Tensor) -> bool:
    """TMA needs an sm_90+ GPU and 16-byte aligned rows (K a multiple of 16 int8 values)."""
    return s.is_cuda and torch.cuda.get_device_capability(s.device)[0] >= 9 and s.shape[-1] % 16 == 0


def launch(s2: torch.Tensor, w: torch.Tensor, scale: torch.Tensor, vth: torch.Tensor, bias: torch.Tensor | None,
           res: torch.Tensor | None, floor: torch.Tensor | None, y: torch.Tensor, grouped: bool,
           parts: torch.Tensor | None = None) -> None:
    """Same contract as spike_gemm._launch's kernel call; s2 [M,K] and w [N,K] contiguous int8; with
    `parts` (fuse-swiglu), y is h [M, N/2] and parts its partial |h| sums (swiglu.py)."""
    m, k = s2.shape
    n = w.shape[0]
    dummy = [1, 1]
    s_desc = TensorDescriptor.from_tensor(s2, dummy)
    w_desc = TensorDescriptor.from_tensor(w, dummy)
    grid = lambda meta: (cdiv(m, meta["BLOCK_M"]) * cdiv(n, meta["BLOCK_N"]),)
    (_TUNED_GROUPED if grouped else _TUNED)[grid](
        s_desc, w_desc, scale, vth, bias if bias is not None else scale, res if res is not None else y,
        floor if floor is not None else scale, y, parts if parts is not None else scale, m, n, k, y.stride(0),
        scale.stride(0), res.stride(0) if res is not None else 0, HAS_BIAS=bias is not None, HAS_RES=res is not None,
        HAS_FLOOR=floor is not None, GROUPED=grouped, SWIGLU=parts is not None, enable_fp_fusion=False)
