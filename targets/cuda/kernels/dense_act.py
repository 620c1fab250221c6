"""A float projection with few inputs and its element-wise epilogue (fuse-activation) in one kernel.

SpikingBrain's GLA gate is a low-rank pair: a 16-wide spike-coded projection (inside the fused QKV
GEMM) and a float 16 -> 512 projection with a bias, then logsigmoid and a scale. Unfused, the second
half is a cuBLAS GEMM with its bias, a cast, the logsigmoid and the scale: four launches per layer
and token for 512 values. Here: y = act(x @ W^T + b) * factor, float32 throughout, one launch; a K this
small fits one block, so each program computes a block of columns of one row.

act: none, relu, sigmoid (1 / (1 + e^-y)) or logsigmoid (min(y, 0) - log1p(e^-|y|)); log1p is
computed accurately from log (Goldberg's form), which the interpreter and every flavour have."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import pdl
from .tiles import cdiv, pow2
from .tuning import Flavour, autotuned, config

ACTS = ("none", "relu", "sigmoid", "logsigmoid")
MAX_K = 64  # wider inputs go through cuBLAS and the activations' own kernels


@triton.jit
def _log1p(u):
    v = 1.0 + u
    exact = v == 1.0  # u below half an ulp of 1: log1p(u) = u
    return tl.where(exact, u, tl.log(v) * (u / tl.where(exact, 1.0, v - 1.0)))


@triton.jit
def _dense_act_kernel(x_ptr, w_ptr, b_ptr, y_ptr, N, K, stride_x, stride_y, factor, HAS_BIAS: tl.constexpr,
                      ACT: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, PDL: tl.constexpr):
    pdl.entry(PDL)
    row = tl.program_id(0).to(tl.int64)
    rn = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    x = tl.load(x_ptr + row * stride_x + rk, mask=rk < K, other=0.0).to(tl.float32)
    w = tl.load(w_ptr + rn[:, None] * K + rk[None, :], mask=(rn < N)[:, None] & (rk < K)[None, :], other=0.0)
    y = tl.sum(w.to(tl.float32) * x[None, :], axis=1)
    if HAS_BIAS:
        y = y + tl.load(b_ptr + rn, mask=rn < N, other=0.0)
    if ACT == "relu":
        y = tl.maximum(y, 0.0)
    elif ACT == "sigmoid":
        y = 1.0 / (1.0 + tl.exp(-y))
    elif ACT == "logsigmoid":
        y = tl.minimum(y, 0.0) - _log1p(tl.exp(-tl.abs(y)))
    y = y * factor
    tl.store(y_ptr + row * stride_y + rn, y.to(y_ptr.dtype.element_ty), mask=rn < N)


_CONFIGS = {"cuda": [config(4, 1, BLOCK_N=128), config(4, 1, BLOCK_N=512), config(2, 1, BLOCK_N=64)],
            "metax": [config(4, 1, BLOCK_N=128), config(4, 1, BLOCK_N=512)]}
_TUNED = autotuned(_dense_act_kernel, _CONFIGS, key=["N", "K", "HAS_BIAS", "ACT"])


def dense_act(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, act: str, factor: float = 1.0, *,
              out_dtype: torch.dtype = torch.float32, flavour: Flavour = "cuda") -> torch.Tensor:
    """x [T, K] (rows may be strided), w f32 [N, K], bias f32 [N] -> act(x @ w^T + bias) * factor, [T, N]."""
    t, k = x.shape
    n = w.shape[0]
    assert act in ACTS and k <= MAX_K and w.shape[1] == k and w.is_contiguous(), "dense_act: K <= 64, w [N, K]"
    if x.stride(-1) != 1:
        x = x.contiguous()
    y = torch.empty((t, n), dtype=out_dtype, device=x.device)
    grid = lambda meta: (t, cdiv(n, meta["BLOCK_N"]))
    _TUNED[flavour][grid](x, w, bias if bias is not None else w, y, n, k, x.stride(0), y.stride(0), float(factor),
                          HAS_BIAS=bias is not None, ACT=act, BLOCK_K=max(16, pow2(k)),
                          **pdl.options(flavour, x))
    return y
