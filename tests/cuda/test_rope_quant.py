"""The plan's RoPE and per-group scale-and-round kernels against the op-by-op session's PyTorch forms
(targets/cuda/torch_ops.py, the interpreter's semantics in float32)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("triton", reason="triton is not installed: no GPU kernels to test")

from sbcompile.ir.dialects.nn import FakeQuantParams  # noqa: E402
from sbcompile.ir.dialects.seq import RoPEParams  # noqa: E402
from sbcompile.targets.cuda import torch_ops  # noqa: E402
from targets.cuda.kernels.group_quant import group_quant  # noqa: E402
from targets.cuda.kernels.rope import rope  # noqa: E402

from .helpers import rel_err  # noqa: E402


class _Ctx:
    def __init__(self, position: int) -> None:
        self.position = position


def test_rope_matches_the_torch_form_at_an_offset(device) -> None:
    heads, d, theta = 3, 32, 10000.0
    x = torch.randn(9, 2 * heads * d, generator=torch.Generator().manual_seed(1))[:, : heads * d]  # a column block
    inv = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d)
    pos = torch.tensor([100], device=device)
    got = rope(x.to(device), pos, 5, inv.to(device), heads)  # rows at positions 105..113
    want = torch_ops.rope(RoPEParams(heads=heads, head_dim=d, theta=theta), [x], _Ctx(105))
    assert rel_err(got, want) < 1e-6


def test_group_quant_is_fake_quant_and_the_grouped_encoder(device) -> None:
    x = torch.randn(7, 128, generator=torch.Generator().manual_seed(2)) * 3
    y, _ = group_quant(x.to(device), 32, amax=True, div=127.0, lo=1e-12, hi=3e38, qlo=-128.0, qhi=127.0,
                       dequant=True, out_dtype=torch.float32)
    want = torch_ops.fake_quant(FakeQuantParams(bits=8, group=32), [x], None)
    assert rel_err(y, want) < 1e-6
    counts, vth = group_quant(x.to(device), 32, amax=False, div=3.0, lo=1e-5, hi=1e4, qlo=-3e38, qhi=3e38,
                              dequant=False, out_dtype=torch.float32)
    ref_vth = torch.clamp(x.reshape(7, 4, 32).abs().mean(-1, keepdim=True) / 3.0, 1e-5, 1e4)
    assert rel_err(vth, ref_vth) < 1e-6
    assert (counts.cpu().reshape(7, 4, 32) - torch.round(x.reshape(7, 4, 32) / ref_vth)).abs().max() <= 1
