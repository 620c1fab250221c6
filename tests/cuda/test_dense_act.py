"""dense_act (fuse-activation's float epilogue): act(x @ W^T + b) * factor against the unfused ops."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("triton", reason="triton is not installed: no GPU kernels to test")

import torch.nn.functional as F  # noqa: E402

from targets.cuda.kernels.dense_act import ACTS, dense_act  # noqa: E402

UNFUSED = {"none": lambda y: y, "relu": torch.relu, "sigmoid": torch.sigmoid, "logsigmoid": F.logsigmoid}


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("t,n,k,bias", [(1, 512, 16, True), (37, 100, 40, False)])
def test_matches_the_unfused_ops(device: str, act: str, t: int, n: int, k: int, bias: bool) -> None:
    gen = torch.Generator().manual_seed(n + k)
    wide = torch.randn(t, k + 8, generator=gen, dtype=torch.float64) * 3
    x = wide[:, 4:4 + k]  # a column block of a wider GEMM output, as in the plan
    w = torch.randn(n, k, generator=gen, dtype=torch.float64) / k ** 0.5
    b = torch.randn(n, generator=gen, dtype=torch.float64) if bias else None
    want = UNFUSED[act](F.linear(x, w, b)) / 16
    f32 = lambda a: a.to(torch.float32).to(device)
    y = dense_act(f32(wide)[:, 4:4 + k], f32(w), None if b is None else f32(b), act, 1 / 16)
    assert y.dtype == torch.float32 and y.shape == (t, n)
    torch.testing.assert_close(y.cpu().double(), want, rtol=2e-6, atol=2e-7)


def test_logsigmoid_keeps_the_relative_precision_of_tiny_gates(device: str) -> None:
    """Large positive inputs give gates of -e^-y: log1p's accurate form keeps them (log(1 + u) rounds to 0)."""
    x = torch.tensor([[1.0]], device=device)
    w = torch.tensor([[20.0], [30.0], [-30.0]], device=device)
    y = dense_act(x, w, None, "logsigmoid").cpu().double()
    torch.testing.assert_close(y, F.logsigmoid(torch.tensor([[20.0, 30.0, -30.0]], dtype=torch.float64)), rtol=1e-5, atol=0)
