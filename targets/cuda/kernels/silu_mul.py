"""Fused SwiGLU gate: SiLU(a) * b in float32, one read of each input and one write (no temporaries)."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .tiles import cdiv
from .tuning import Flavour, autotuned, config


@triton.jit
def silu_times(a, b):
    """SiLU(a) * b in float32, the one formula every kernel computing SwiGLU uses (so fused and
    unfused forms round alike)."""
    a = a.to(tl.float32)
    return a / (1.0 + tl.exp(-a)) * b.to(tl.float32)


@triton.jit
def _silu_mul_kernel(a_ptr, b_ptr, y_ptr, N, BLOCK: tl.constexpr):
    off = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = off < N
    y = silu_times(tl.load(a_ptr + off, mask=mask, other=0.0), tl.load(b_ptr + off, mask=mask, other=0.0))
    tl.store(y_ptr + off, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _silu_mul_rows_kernel(a_ptr, b_ptr, y_ptr, N, stride_a, stride_b, BLOCK: tl.constexpr):
    """Rows of a and b at their own strides (two column blocks of one GEMM output), y contiguous."""
    row = tl.program_id(0).to(tl.int64)
    off = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = off < N
    y = silu_times(tl.load(a_ptr + row * stride_a + off, mask=mask, other=0.0),
                   tl.load(b_ptr + row * stride_b + off, mask=mask, other=0.0))
    tl.store(y_ptr + row * N + off, y.to(y_ptr.dtype.element_ty), mask=mask)


_CONFIGS = {
    "cuda": [config(4, 1, BLOCK=1024), config(8, 1, BLOCK=4096), config(4, 1, BLOCK=2048)],
    "metax": [config(4, 1, BLOCK=1024), config(8, 1, BLOCK=4096)],
}
_TUNED = autotuned(_silu_mul_kernel, _CONFIGS, key=["N"])
_ROWS = autotuned(_silu_mul_rows_kernel, _CONFIGS, key=["N"])


def silu_mul(a: torch.Tensor, b: torch.Tensor, *, flavour: Flavour = "cuda") -> torch.Tensor:
    """SiLU(a) * b, elementwise, same shapes; output in a's dtype. 2-D inputs with unit column
    stride are read in place (no copy of a strided view)."""
    assert a.shape == b.shape, "same shapes"
    if a.dim() == 2 and a.stride(-1) == 1 and b.stride(-1) == 1 and not (a.is_contiguous() and b.is_contiguous()):
        m, n = a.shape
        y = torch.empty((m, n), dtype=a.dtype, device=a.device)
        _ROWS[flavour][lambda meta: (m, cdiv(n, meta["BLOCK"]))](a, b, y, n, a.stride(0), b.stride(0))
        return y
    a, b = a.contiguous(), b.contiguous()
    y = torch.empty_like(a)
    n = a.numel()
    _TUNED[flavour][lambda meta: (cdiv(n, meta["BLOCK"]),)](a, b, y, n)
    return y
