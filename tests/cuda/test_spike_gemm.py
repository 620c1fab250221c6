"""spike_gemm: exact int32 accumulation and a float epilogue reproducible bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("triton", reason="triton is not installed: no GPU kernels to test")

from targets.cuda.kernels.spike_gemm import spike_gemm, spike_gemm_grouped  # noqa: E402


def operands(m: int, n: int, k: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    s = np.clip(np.rint(rng.standard_normal((m, k)) * 6), -127, 127).astype(np.int8)
    w = rng.integers(-127, 128, (n, k), dtype=np.int8)
    vth = (rng.random((m, 1)) + 0.05).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    return s, w, vth, bias


def run(fn, dev: str, s, w, scale, vth, bias):
    t = lambda a: torch.from_numpy(a).to(dev)
    return fn(t(s), t(w), t(scale), t(vth), None if bias is None else t(bias)).cpu().numpy()


@pytest.mark.parametrize("m,n,k,with_bias", [(37, 72, 256, True), (5, 40, 200, False), (130, 264, 128, True),
                                               (1, 96, 384, True)])
def test_per_channel_exact(device: str, m: int, n: int, k: int, with_bias: bool) -> None:
    s, w, vth, bias = operands(m, n, k, seed=m)
    scale = (np.random.default_rng(k).random(n) / 127).astype(np.float32)
    acc = s.astype(np.int64) @ w.astype(np.int64).T
    ref = (acc.astype(np.float32) * scale[None, :]) * vth  # numpy float32: rounded per op, no FMA
    if with_bias:
        ref = ref + bias[None, :]
    y = run(spike_gemm, device, s, w, scale, vth, bias if with_bias else None)
    assert y.dtype == np.float32 and np.array_equal(y, ref)


@pytest.mark.parametrize("m,n,k", [(37, 72, 256), (300, 264, 384), (5, 40, 200)])
def test_residual_added_in_the_epilogue(device: str, m: int, n: int, k: int) -> None:
    """fuse-residual at more than one token: y + r in float32, then one rounding (as spike_gemv)."""
    s, w, vth, bias = operands(m, n, k, seed=k)
    scale = (np.random.default_rng(m).random(n) / 127).astype(np.float32)
    res = np.random.default_rng(n).standard_normal((m, n)).astype(np.float32)
    acc = s.astype(np.int64) @ w.astype(np.int64).T
    ref = (acc.astype(np.float32) * scale[None, :]) * vth + bias[None, :] + res
    t = lambda a: torch.from_numpy(a).to(device)
    y = spike_gemm(t(s), t(w), t(scale), t(vth), t(bias), residual=t(res)).cpu().numpy()
    assert np.array_equal(y, ref)
    half = spike_gemm(t(s), t(w), t(scale), t(vth), t(bias), residual=t(res).half(), out_dtype=torch.float16)
    assert np.array_equal(half.cpu().numpy(), ((acc.astype(np.float32) * scale[None, :]) * vth + bias[None, :]
                                               + res.astype(np.float16).astype(np.float32)).astype(np.float16))


@pytest.mark.parametrize("m,n,k", [(37, 72, 384), (3, 16, 128)])
def test_grouped_sequential_exact_and_within_tolerance(device: str, m: int, n: int, k: int) -> None:
    s, w, vth, bias = operands(m, n, k, seed=k)
    scale = (np.random.default_rng(m).random((n, k // 128, 1)) / 127).astype(np.float32)  # W8ASpike's layout
    parts = [s[:, g:g + 128].astype(np.int64) @ w[:, g:g + 128].astype(np.int64).T for g in range(0, k, 128)]
    acc = np.zeros((m, n), np.float32)
    for g, part in enumerate(parts):
        acc = acc + part.astype(np.float32) * scale[None, :, g, 0]
    ref32 = acc * vth + bias[None, :]
    ref64 = sum(p * scale[None, :, g, 0].astype(np.float64) for g, p in enumerate(parts)) * vth + bias
    y = run(spike_gemm_grouped, device, s, w, scale, vth, bias)
    assert np.array_equal(y, ref32)
    # stated tolerance against exact arithmetic: per element |err| <= (groups + 3) * 2^-24 * (sum of |terms|)
    mag = sum(np.abs(p * scale[None, :, g, 0].astype(np.float64)) for g, p in enumerate(parts)) * vth + np.abs(bias)
    assert np.all(np.abs(y - ref64) <= (k // 128 + 3) * 2.0 ** -24 * mag)


@pytest.mark.parametrize("m,n,k", [(37, 72, 256), (1, 96, 384)])
def test_floor_bounds_the_epilogue_below(device: str, m: int, n: int, k: int) -> None:
    """fuse-activation's ReLU: max(y, floor[n]) with floor 0 under a ReLU, -inf elsewhere, exact."""
    s, w, vth, bias = operands(m, n, k, seed=n)
    scale = (np.random.default_rng(m).random(n) / 127).astype(np.float32)
    floor = np.where(np.arange(n) < n // 3, np.float32(0), np.float32(-np.inf)).astype(np.float32)
    acc = s.astype(np.int64) @ w.astype(np.int64).T
    ref = np.maximum((acc.astype(np.float32) * scale[None, :]) * vth + bias[None, :], floor[None, :])
    t = lambda a: torch.from_numpy(a).to(device)
    y = spike_gemm(t(s), t(w), t(scale), t(vth), t(bias), floor=t(floor)).cpu().numpy()
    assert np.array_equal(y, ref) and (y[:, : n // 3] >= 0).all() and (y[:, n // 3:] < 0).any()
