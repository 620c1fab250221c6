"""fuse-swiglu's kernels: the gate/up GEMM writing h = SiLU(gate) * up and its partial |h| sums, and
the encoder reading them, against the unfused GEMM, silu_mul and silu_mul_encode."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("triton", reason="triton is not installed: no GPU kernels to test")

from targets.cuda.kernels.fused_encode import encode_parts, silu_mul_encode  # noqa: E402
from targets.cuda.kernels.silu_mul import silu_mul  # noqa: E402
from targets.cuda.kernels.spike_gemm import spike_gemm, spike_gemm_swiglu  # noqa: E402
from targets.cuda.kernels.swiglu import PART, interleave  # noqa: E402
from targets.cuda.kernels.tuning import interpreting  # noqa: E402

from .test_fused_encode import same  # noqa: E402


def projection(m: int, n: int, k: int, seed: int, device: str) -> tuple:
    gen = torch.Generator().manual_seed(seed)
    s = torch.randint(-4, 5, (m, k), generator=gen, dtype=torch.int8)
    w = torch.randint(-127, 128, (2 * n, k), generator=gen, dtype=torch.int8)
    scale = torch.rand(2 * n, generator=gen) * 1e-2
    bias = torch.randn(2 * n, generator=gen) * 0.1
    vth = torch.rand(m, 1, generator=gen) + 0.5
    return tuple(t.to(device) for t in (s, w, scale, bias, vth))


@pytest.mark.parametrize("m,n", [(40, 160), (3, 96), (130, 64)])  # partial tiles, a partial sum cut short
def test_swiglu_epilogue_writes_the_unfused_h_and_its_sums(device: str, m: int, n: int) -> None:
    s, w, scale, bias, vth = projection(m, n, 96, m + n, device)
    dtype = torch.float32 if interpreting() else torch.bfloat16
    gate_up = spike_gemm(s, w, scale, vth, bias, out_dtype=dtype)  # [gate | up] blocks
    want = silu_mul(gate_up[:, :n], gate_up[:, n:])
    fused = lambda t: interleave(t[:n], t[n:])
    h, parts = spike_gemm_swiglu(s, fused(w), fused(scale), vth, fused(bias), out_dtype=dtype)
    assert h.dtype == dtype and torch.equal(h, want)
    pad = torch.zeros(m, parts.shape[1] * PART, dtype=torch.float64, device=device)
    pad[:, :n] = h.double().abs()
    assert parts.shape == (m, -(-n // PART))
    torch.testing.assert_close(parts, pad.reshape(m, -1, PART).sum(-1), rtol=1e-13, atol=0)  # float64, any order
    same(encode_parts(h, parts, 2.5, 1e-5, 1e4), silu_mul_encode(gate_up[:, :n], gate_up[:, n:], 2.5, 1e-5, 1e4))


def test_decode_reads_the_interleaved_columns(device: str) -> None:
    """One token goes through the GEMV on the interleaved weight: the encoder reads every other column."""
    gen = torch.Generator().manual_seed(5)
    y = (torch.randn(1, 2 * 3000, generator=gen) * 2).to(device)
    gate, up = y[:, 0::2], y[:, 1::2]
    same(silu_mul_encode(gate, up, 2.5, 1e-5, 1e4), silu_mul_encode(gate.contiguous(), up.contiguous(), 2.5, 1e-5, 1e4))
