"""spike_gemv: the split-K decode GEMV equals spike_gemm's exact result, call after call."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")
triton = pytest.importorskip("triton", reason="triton is not installed: no GPU kernels to test")

from targets.cuda.kernels import spike_gemv as gemv_mod  # noqa: E402
from targets.cuda.kernels.spike_gemv import spike_gemv  # noqa: E402


@pytest.mark.parametrize("dot", [1, 0])
@pytest.mark.parametrize("n,k,with_bias", [(72, 1536, True), (40, 200, False), (8, 4096, True)])
def test_equals_integer_reference_across_calls(device: str, monkeypatch, dot: int, n: int, k: int,
                                               with_bias: bool) -> None:
    """Both inner loops (tensor-core tile, plain multiply-add), each on the atomic split path."""
    (cfg,) = [c for c in gemv_mod._CONFIGS["cuda"] if c.kwargs["DOT"] == dot][:1]
    monkeypatch.setitem(gemv_mod._TUNED, "cuda", triton.autotune([cfg], key=["N"])(gemv_mod._spike_gemv_kernel))
    rng = np.random.default_rng(n + k)
    w = torch.from_numpy(rng.integers(-127, 128, (n, k), dtype=np.int8)).to(device)
    scale = torch.from_numpy((rng.random(n) / 127).astype(np.float32)).to(device)
    bias = torch.from_numpy(rng.standard_normal(n).astype(np.float32)).to(device) if with_bias else None
    assert gemv_mod._splits(n, k, 16, 512) > 1 or k <= 512  # the atomic path runs
    for call in range(3):  # the workspace and counters are left zero for the next call
        s = np.clip(np.rint(rng.standard_normal((1, k)) * 6), -127, 127).astype(np.int8)
        vth = np.float32(rng.random() + 0.05)
        acc = s.astype(np.int64) @ w.cpu().numpy().astype(np.int64).T
        ref = (acc.astype(np.float32) * scale.cpu().numpy()[None, :]) * vth
        if with_bias:
            ref = ref + bias.cpu().numpy()[None, :]
        y = spike_gemv(torch.from_numpy(s).to(device), w, scale, torch.tensor([[vth]], device=device), bias)
        assert np.array_equal(y.cpu().numpy(), ref), f"call {call}"


def one_token(rng: np.random.Generator, n: int, k: int) -> tuple[np.ndarray, ...]:
    """Weights, one token's counts, row scales, and the dequantized product at V_th = 0.5."""
    w = rng.integers(-127, 128, (n, k), dtype=np.int8)
    s = np.clip(np.rint(rng.standard_normal((1, k)) * 6), -127, 127).astype(np.int8)
    scale = (rng.random(n) / 127).astype(np.float32)
    acc = s.astype(np.int64) @ w.astype(np.int64).T
    return w, s, scale, (acc.astype(np.float32) * scale[None, :]) * np.float32(0.5)


def test_residual_added_in_the_epilogue(device: str) -> None:
    rng = np.random.default_rng(5)
    w, s, scale, y0 = one_token(rng, 48, 1024)
    res = rng.standard_normal((1, 48)).astype(np.float32)
    ref = y0 + res
    t = lambda a: torch.from_numpy(a).to(device)
    y = spike_gemv(t(s), t(w), t(scale), torch.tensor([[0.5]], device=device), residual=t(res))
    assert np.array_equal(y.cpu().numpy(), ref)


def test_floor_bounds_the_epilogue_below(device: str) -> None:
    """fuse-activation's ReLU in the one-token epilogue: max(y, floor[n]), exact."""
    n = 80
    w, s, scale, y0 = one_token(np.random.default_rng(9), n, 768)
    floor = np.where(np.arange(n) % 2 == 0, np.float32(0), np.float32(-np.inf)).astype(np.float32)
    ref = np.maximum(y0, floor[None, :])
    t = lambda a: torch.from_numpy(a).to(device)
    y = spike_gemv(t(s), t(w), t(scale), torch.tensor([[0.5]], device=device), floor=t(floor)).cpu().numpy()
    assert np.array_equal(y, ref) and (y[0, ::2] >= 0).all() and (y[0, 1::2] < 0).any()
