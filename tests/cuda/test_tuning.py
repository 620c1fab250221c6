"""Tuned: after the autotuner picks a config for a key, later calls launch it directly, same results."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("triton", reason="triton is not installed: no GPU kernels to test")

from targets.cuda.kernels import silu_mul as silu_mod  # noqa: E402


def test_picked_config_launches_directly(device: str) -> None:
    tuned = silu_mod._TUNED["cuda"]
    gen = torch.Generator().manual_seed(6)
    a, b = (torch.randn(3, 77, generator=gen).to(device) for _ in range(2))
    want = (a / (1.0 + torch.exp(-a)) * b).cpu()
    first = silu_mod.silu_mul(a, b)  # through the autotuner
    assert any(key[0] == (a.numel(),) for key in tuned.picked)
    second = silu_mod.silu_mul(a, b)  # the picked config, launched directly
    assert torch.equal(first.cpu(), second.cpu()) and torch.allclose(second.cpu(), want, rtol=1e-6, atol=1e-6)
