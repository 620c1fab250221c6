"""The fused encoders give the counts and thresholds of the unfused kernels they replace."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("triton", reason="triton is not installed: no GPU kernels to test")

from targets.cuda.kernels import fused_encode as fe  # noqa: E402
from targets.cuda.kernels.fused_encode import rmsnorm_encode, silu_mul_encode  # noqa: E402
from targets.cuda.kernels.rmsnorm import rmsnorm  # noqa: E402
from targets.cuda.kernels.silu_mul import silu_mul  # noqa: E402
from targets.cuda.kernels.spike_encode import spike_encode_int8  # noqa: E402
from targets.cuda.kernels.tuning import autotuned, config, interpreting  # noqa: E402


def same(fused: tuple, unfused: tuple) -> None:
    """Equal in the interpreter; on a GPU the producer's float32 sums may be ordered differently, which
    can move a count by one where a value sits on a rounding boundary."""
    (s, vth, sat), (s0, vth0, sat0) = fused, unfused
    if interpreting():
        assert torch.equal(s, s0) and torch.equal(vth, vth0) and torch.equal(sat, sat0)
        return
    diff = (s.int() - s0.int()).abs()
    assert int(diff.max()) <= 1 and float((diff > 0).float().mean()) < 1e-3
    assert float(((vth - vth0).abs() / vth0).max()) < 1e-6


@pytest.mark.parametrize("group,shared", [(None, True), (32, True), (32, False)])
def test_rmsnorm_encode(device: str, group: int | None, shared: bool) -> None:
    gen = torch.Generator().manual_seed(4)
    x = (torch.randn(9, 224, generator=gen) * 3).to(device)
    w = (torch.rand(group if shared and group else 224, generator=gen) + 0.5).to(device)
    fused = rmsnorm_encode(x, w, 1e-6, group, 3.0, 1e-5, 1e4)
    same(fused, spike_encode_int8(rmsnorm(x, w, 1e-6, group), 3.0))
    assert fused[0].dtype == torch.int8 and fused[1].shape == (9, 1)


@pytest.mark.parametrize("rows", [5, 1])  # one program per row; a decode row spread over programs
@pytest.mark.parametrize("n", [300, 5000])
def test_silu_mul_encode_on_column_blocks(device: str, n: int, rows: int) -> None:
    gen = torch.Generator().manual_seed(n)
    gate_up = (torch.randn(max(rows, 2), 2 * n, generator=gen) * 2)[:rows].to(device)  # one GEMM's column blocks
    a, b = gate_up[:, :n], gate_up[:, n:]
    b[rows - 1, 7] = 1e4  # a saturated count
    fused = silu_mul_encode(a, b, 2.5, 1e-5, 1e4)
    same(fused, spike_encode_int8(silu_mul(a, b), 2.5))
    assert int(fused[2][rows - 1]) >= 1


def test_silu_mul_encode_rows_in_a_grid_stride_loop(device: str, monkeypatch) -> None:
    """Fewer programs than rows (the prefill configs that keep rows in L2): each program takes every
    PROGRAMS-th row, same counts and thresholds."""
    cfg = config(4, 1, BLOCK=256, PROGRAMS=3)
    tuned = autotuned(fe._silu_mul_encode_kernel, {"cuda": [cfg], "metax": [cfg]}, key=["N", "MANY"])
    monkeypatch.setitem(fe._SILU, "cuda", tuned["cuda"])
    gen = torch.Generator().manual_seed(11)
    a, b = (torch.randn(8, 700, generator=gen).to(device) * 2 for _ in range(2))
    same(silu_mul_encode(a, b, 2.5, 1e-5, 1e4), spike_encode_int8(silu_mul(a, b), 2.5))
