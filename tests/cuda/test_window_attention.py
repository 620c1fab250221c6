"""window_attention against float64 masked softmax: query i sees keys i-w < j <= i (w keys)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("triton", reason="triton is not installed: no GPU kernels to test")

from targets.cuda.kernels.window_attention import window_attention  # noqa: E402

from .helpers import rel_err  # noqa: E402

TOL = {torch.float32: 5e-3, torch.float16: 1e-2}  # fp32 dots run as tf32 on GPUs


def reference(q, k, v, window):
    q, k, v = (x.double().transpose(1, 2) for x in (q, k, v))
    rep = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
    t = q.shape[2]
    i, j = torch.arange(t)[:, None], torch.arange(t)[None, :]
    keep = (j <= i) & ((j > i - window) if window is not None else True)
    s = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    return (s.masked_fill(~keep, float("-inf")).softmax(-1) @ v).transpose(1, 2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("window", [1, 17, 64, None])
def test_matches_masked_softmax(device, dtype, window) -> None:
    gen = torch.Generator().manual_seed(window or 0)
    q = torch.randn(1, 100, 4, 32, generator=gen).to(dtype)
    k = torch.randn(1, 100, 2, 32, generator=gen).to(dtype)
    v = torch.randn(1, 100, 2, 32, generator=gen).to(dtype)
    o = window_attention(q.to(device), k.to(device), v.to(device), window)
    assert o.dtype == dtype and o.shape == q.shape
    assert rel_err(o, reference(q, k, v, window)) < TOL[dtype]


def test_window_of_one_returns_own_value(device) -> None:
    gen = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 40, 2, 16, generator=gen) for _ in range(3))
    assert rel_err(window_attention(q.to(device), k.to(device), v.to(device), 1), v) < TOL[torch.float32]


@pytest.mark.parametrize("window", [300, None])
def test_long_sequence_with_unmasked_inner_blocks(device, window) -> None:
    """Several query blocks: key blocks cut by the window's edge, wholly inside it, and on the diagonal."""
    gen = torch.Generator().manual_seed(7)
    q = torch.randn(1, 700, 2, 32, generator=gen)
    k, v = (torch.randn(1, 700, 1, 32, generator=gen) for _ in range(2))
    o = window_attention(q.to(device), k.to(device), v.to(device), window)
    assert rel_err(o, reference(q, k, v, window)) < TOL[torch.float32]
