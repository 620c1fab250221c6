"""rmsnorm (whole rows, per head group with shared or per-channel weights) and silu_mul."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("triton", reason="triton is not installed: no GPU kernels to test")

from targets.cuda.kernels.rmsnorm import rmsnorm  # noqa: E402
from targets.cuda.kernels.silu_mul import silu_mul  # noqa: E402

from .helpers import rel_err  # noqa: E402

TOL = {torch.float32: 1e-6, torch.float16: 1e-3}  # fp16: the output's own rounding


def rms_reference(x, w, eps, group):
    xs = x.double().reshape(*x.shape[:-1], -1, group)
    y = xs / (xs.pow(2).mean(-1, keepdim=True) + eps).sqrt()
    return (y.reshape(x.shape) * (w.double().repeat(x.shape[-1] // w.numel()) if w.numel() != x.shape[-1]
                                  else w.double()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("group,shared", [(None, False), (32, True), (32, False), (24, True)])
def test_rmsnorm(device, dtype, group, shared) -> None:
    gen = torch.Generator().manual_seed(11)
    x = (torch.randn(3, 5, 96, generator=gen) * 3).to(dtype)
    g = group or 96
    w = torch.randn(g if shared else 96, generator=gen)
    y = rmsnorm(x.to(device), w.to(device), 1e-6, group)
    assert y.dtype == dtype and rel_err(y, rms_reference(x, w, 1e-6, g)) < TOL[dtype]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_silu_mul(device, dtype) -> None:
    gen = torch.Generator().manual_seed(12)
    a, b = (torch.randn(7, 300, generator=gen).to(dtype) * 4 for _ in range(2))
    ref = a.double() * torch.sigmoid(a.double()) * b.double()
    y = silu_mul(a.to(device), b.to(device))
    assert y.dtype == dtype and rel_err(y, ref) < TOL[dtype]


def test_silu_mul_reads_column_blocks_in_place(device) -> None:
    """Gate and up as the two column blocks of one fused GEMM output: read at their row stride."""
    gu = torch.randn(37, 2 * 96, generator=torch.Generator().manual_seed(3)).to(device)
    a, b = gu[:, :96], gu[:, 96:]
    want = a / (1 + torch.exp(-a)) * b
    assert rel_err(silu_mul(a, b), want) < 1e-6
