"""spike_encode must equal the project's float64/numpy encoder bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("triton", reason="triton is not installed: no GPU kernels to test")

from targets.cuda.kernels.spike_encode import spike_encode, spike_encode_int8  # noqa: E402


def reference(x: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    """ir/dialects/spike.py's numerics: float64 mean, float32 V_th, float64 division, rint."""
    x64 = x.astype(np.float64)
    vth = np.clip(np.abs(x64).mean(-1, keepdims=True) / k, 1e-5, 1e4).astype(np.float32)
    return np.rint(x64 / vth.astype(np.float64)).astype(np.int64), vth


def with_neighbours(x: torch.Tensor) -> torch.Tensor:
    """x and the float32 values one ulp above and below each entry."""
    return torch.cat([x, torch.nextafter(x, x + 1), torch.nextafter(x, x - 1)])


@pytest.mark.parametrize("shape,k,dtype", [((3, 7, 100), 3.0, torch.float32), ((4, 5000), 2.7, torch.float32),
                                           ((5, 64), 3.5, torch.float16)])
def test_counts_and_threshold_exact(device: str, shape: tuple[int, ...], k: float, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(1)
    x = (torch.randn(shape, generator=gen) * torch.rand(shape[:-1] + (1,), generator=gen) * 4).to(dtype)
    s, vth = spike_encode(x.to(device), k)
    ref_s, ref_vth = reference(x.float().numpy(), k)
    assert s.dtype == torch.int32 and vth.dtype == torch.float32 and vth.shape == shape[:-1] + (1,)
    assert np.array_equal(vth.cpu().numpy(), ref_vth)
    assert np.array_equal(s.cpu().numpy(), ref_s)


def test_ties_round_to_even_and_clamps(device: str) -> None:
    # mean |row0| = 3 = k, so V_th = 1 and the values are exact ties
    x = torch.tensor([[0.5, 1.5, 2.5, -3.5, 4.5, -5.5, 2.0, -4.0], [0.0] * 8, [3e6, -3e6] * 4])
    s, vth = spike_encode(x.to(device), 3.0)
    assert s[0].tolist() == [0, 2, 2, -4, 4, -6, 2, -4]
    assert vth.cpu().flatten().tolist() == [1.0, np.float32(1e-5), 1e4]
    assert s[1].abs().sum() == 0 and s[2].tolist() == [300, -300] * 4


def test_int8_saturates_and_counts(device: str) -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(6, 300, generator=gen)
    x[1, 5], x[1, 9], x[4, 0] = 500.0, -800.0, 1000.0
    s8, vth, sat = spike_encode_int8(x.to(device), 3.0)
    ref_s, ref_vth = reference(x.numpy(), 3.0)
    assert s8.dtype == torch.int8 and np.array_equal(vth.cpu().numpy(), ref_vth)
    assert np.array_equal(s8.cpu().numpy(), np.clip(ref_s, -127, 127))
    assert np.array_equal(sat.cpu().numpy(), (np.abs(ref_s) > 127).sum(-1))
    assert sat[1] == 2 and sat[4] == 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_int8_counts_equal_the_float64_division(device: str, dtype: torch.dtype) -> None:
    """The int8 form rounds without a float64 divide: check it on wide random rows, and on exact ties
    and values one float32 ulp either side of them, against round(float64(x) / float64(V_th))."""
    gen = torch.Generator().manual_seed(3)
    wide = torch.stack([torch.randn(4096, generator=gen) * torch.rand(1, generator=gen) * 9 for _ in range(6)])
    halves = torch.arange(-130, 131, dtype=torch.float32) + 0.5
    ties = torch.cat([with_neighbours(halves), halves - 0.5])
    k_tie = float(ties.double().abs().mean())  # V_th = mean|x| / k = 1 exactly: `ties` are exact ties
    near = with_neighbours(halves * 0.3)  # V_th near 0.3: float32 points on, and one ulp either side of, c + 1/2
    for x, k in [(wide.to(dtype), 3.0), (ties[None].to(dtype), k_tie), (near[None], float(near.double().abs().mean() / 0.3))]:
        s8, vth, sat = spike_encode_int8(x.to(device), k)
        ref_s, ref_vth = reference(x.float().numpy(), k)
        assert np.array_equal(vth.cpu().numpy(), ref_vth)
        assert np.array_equal(s8.cpu().numpy(), np.clip(ref_s, -127, 127))
        assert np.array_equal(sat.cpu().numpy(), (np.abs(ref_s) > 127).sum(-1))


def test_fused_multiply_add_branch_rounds_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a GPU the int8 rounding decides ties with float32 fused multiply-adds. The interpreter's
    tl.fma is a product then a sum, so it runs the float64 branch; here an exact FMA is patched in
    and the GPU's branch is checked against the float64 division on the same ties."""
    if torch.cuda.is_available():
        pytest.skip("the GPU runs this branch in test_int8_counts_equal_the_float64_division")
    from triton.runtime import interpreter
    from targets.cuda.kernels import spike_encode as enc

    def exact_fma(self, x, y, z):  # float64 holds x * y + z exactly here; one rounding to float32 after
        exact = x.data.astype(np.float64) * y.data.astype(np.float64) + z.data.astype(np.float64)
        return interpreter.TensorHandle(exact.astype(x.data.dtype), z.dtype.scalar)
    monkeypatch.setattr(interpreter.InterpreterBuilder, "create_fma", exact_fma)
    monkeypatch.setattr(enc, "_FUSED_FMA", True)
    halves = torch.arange(-130, 131, dtype=torch.float32) + 0.5
    for scale in (1.0, 0.3, 7.1):
        x = with_neighbours(halves * scale)[None]
        k = float(x.double().abs().mean() / scale)
        s8, vth, sat = spike_encode_int8(x, k)
        ref_s, ref_vth = reference(x.numpy(), k)
        assert np.array_equal(vth.numpy(), ref_vth)
        assert np.array_equal(s8.numpy(), np.clip(ref_s, -127, 127))
        assert np.array_equal(sat.numpy(), (np.abs(ref_s) > 127).sum(-1))
