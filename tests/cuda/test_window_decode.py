"""window_decode: one query against the ring equals masked softmax over the last `window` keys,
and the step's key and value land in ring slot pos mod window."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("triton", reason="triton is not installed: no GPU kernels to test")

from targets.cuda.kernels.window_decode import window_decode  # noqa: E402

from .helpers import rel_err  # noqa: E402


@pytest.mark.parametrize("window,steps", [(16, 40), (300, 7), (1, 3)])
def test_steps_match_masked_softmax(device: str, window: int, steps: int) -> None:
    heads, kv_heads, d = 6, 2, 32
    gen = torch.Generator().manual_seed(window)
    ks = torch.randn(steps, kv_heads, d, generator=gen)
    vs = torch.randn(steps, kv_heads, d, generator=gen)
    qs = torch.randn(steps, heads, d, generator=gen)
    k_ring = torch.zeros(kv_heads, window, d, device=device)
    v_ring = torch.zeros_like(k_ring)
    for t in range(steps):
        pos = torch.tensor([t], device=device)
        o = window_decode(qs[t].to(device), ks[t].to(device), vs[t].to(device), k_ring, v_ring, pos)
        lo = max(0, t - window + 1)
        k = ks[lo:t + 1].double().repeat_interleave(heads // kv_heads, 1)  # [n, H, d]
        v = vs[lo:t + 1].double().repeat_interleave(heads // kv_heads, 1)
        p = torch.einsum("hd,nhd->hn", qs[t].double(), k) * d ** -0.5
        ref = torch.einsum("hn,nhd->hd", p.softmax(-1), v)
        assert rel_err(o, ref) < 5e-3, f"step {t}"
        assert torch.equal(k_ring[:, t % window].cpu(), ks[t]) and torch.equal(v_ring[:, t % window].cpu(), vs[t])
