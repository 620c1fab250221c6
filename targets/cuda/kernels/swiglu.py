"""SwiGLU in the gate/up GEMM's epilogue (fuse-swiglu): the fused weight interleaves gate and up
rows (row 2i = gate i, row 2i+1 = up i), so every output tile holds matching gate and up columns and
writes h = SiLU(gate) * up, half the columns of the unfused [gate | up], plus the float64 |h| sums of
each PART columns of a row: the spike encoder then needs one pass over h instead of two over gate
and up (kernels/fused_encode.py, encode_parts).

gate and up are rounded to h's dtype before SiLU, exactly as the unfused GEMM stores them, and
silu_times is the formula of the unfused kernels, so h is the same bit for bit. The partial sums
are float64 sums of |h|; with bf16 h (8-bit significands) a row's sum is exact, in any order, while
its magnitudes span less than 2^30, so V_th is the unfused encoder's. Beyond that (or float32 h),
V_th can move by its last bit, as between silu_mul_encode's two forms."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .silu_mul import silu_times
from .tiles import cdiv

PART = 64  # h columns per partial |h| sum; a tile has BLOCK_N / 2 of them, so BLOCK_N >= 2 * PART
_PART: tl.constexpr = tl.constexpr(PART)


@triton.jit
def store_swiglu(y, rm, pid_n, M, N, h_ptr, part_ptr, stride_hm, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """y [BLOCK_M, BLOCK_N]: the float32 epilogue values of interleaved gate/up columns (N of them)."""
    gate, up = tl.split(tl.reshape(y, [BLOCK_M, BLOCK_N // 2, 2]))
    dt = h_ptr.dtype.element_ty
    h = silu_times(gate.to(dt), up.to(dt)).to(dt)
    hn = pid_n * (BLOCK_N // 2) + tl.arange(0, BLOCK_N // 2)
    rows = rm.to(tl.int64)[:, None]
    ok = (rm[:, None] < M) & (hn[None, :] < N // 2)
    tl.store(h_ptr + rows * stride_hm + hn[None, :], h, mask=ok)
    parts = tl.sum(tl.reshape(tl.where(ok, tl.abs(h.to(tl.float64)), 0.0), [BLOCK_M, BLOCK_N // 2 // _PART, _PART]),
                   axis=2)
    width = tl.cdiv(N // 2, _PART)
    pn = pid_n * (BLOCK_N // 2 // _PART) + tl.arange(0, BLOCK_N // 2 // _PART)
    tl.store(part_ptr + rows * width + pn[None, :], parts, mask=(rm[:, None] < M) & (pn[None, :] < width))


def interleave(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """Rows of gate and up alternated (gate 0, up 0, gate 1, ...): codes [N, K], scales or biases [N]."""
    assert gate.shape == up.shape, "gate and up: the same shape"
    return torch.stack([gate, up], dim=1).reshape(2 * gate.shape[0], *gate.shape[1:]).contiguous()


def outputs(m: int, n: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """h [m, n/2] and its partial sums [m, ceil(n/2 / PART)] for an interleaved GEMM of n columns."""
    return (torch.empty((m, n // 2), dtype=dtype, device=device),
            torch.empty((m, cdiv(n // 2, PART)), dtype=torch.float64, device=device))


def fits(config: triton.Config) -> bool:
    """Configs whose column tile holds whole partial sums."""
    return config.kwargs["BLOCK_N"] >= 2 * PART
