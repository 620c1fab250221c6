"""Each equation of the model family on small shapes against a straightforward float64 loop."""

from __future__ import annotations

import math

import pytest
import torch

from sbcompile.models.gla import GLACore
from sbcompile.models.mlp import MoEFeedForward
from sbcompile.models.norm import HeadRMSNorm, RMSNorm
from sbcompile.models.spiking import SpikeEncoder, fake_quant_weight, spike_counts
from sbcompile.models.swa import RotaryEmbedding, WindowAttentionCore

torch.manual_seed(0)


def test_rmsnorm_and_head_rmsnorm() -> None:
    x = torch.randn(3, 8)
    n = RMSNorm(8, eps=1e-6)
    n.weight.data = torch.randn(8)
    want = [[x[i, j].item() / math.sqrt(sum(v * v for v in x[i].tolist()) / 8 + 1e-6) * n.weight[j].item()
             for j in range(8)] for i in range(3)]
    torch.testing.assert_close(n(x), torch.tensor(want), rtol=1e-5, atol=1e-6)
    h = HeadRMSNorm(4, eps=1e-6)
    h.weight.data = torch.randn(4)
    got = h(x)
    for head in range(2):
        part = RMSNorm(4, 1e-6)
        part.weight.data = h.weight.data
        torch.testing.assert_close(got[:, 4 * head:4 * head + 4], part(x[:, 4 * head:4 * head + 4]))


def test_spike_encoder_definition() -> None:
    x = torch.randn(4, 16)
    s, vth = spike_counts(x, 3.0)
    for i in range(4):
        v = sum(abs(a) for a in x[i].double().tolist()) / 16 / 3.0
        assert vth[i, 0].item() == torch.tensor(v, dtype=torch.float32).item()
        for j in range(16):
            assert s[i, j].item() == round(x[i, j].double().item() / vth[i, 0].double().item())  # Python rounds half to even
    enc = SpikeEncoder(3.0).eval()
    torch.testing.assert_close(enc(x), s.float() * vth)
    assert s.dtype == torch.int32


def test_weight_fake_quant_is_symmetric_per_group() -> None:
    w = torch.randn(3, 256)
    q = fake_quant_weight(w, bits=8, group=128)
    for r in range(3):
        for g in range(2):
            blk, qb = w[r, g * 128:(g + 1) * 128], q[r, g * 128:(g + 1) * 128]
            scale = blk.abs().max() / 127
            torch.testing.assert_close(qb, torch.round(blk / scale) * scale)
            assert (qb / scale).round().abs().max() <= 127


def gla_loop(q, k, v, g, heads, kv_heads, d, scale):
    T = q.shape[0]
    out = torch.zeros(T, heads * d, dtype=torch.float64)
    for h in range(heads):
        kh = h // (heads // kv_heads)
        S = torch.zeros(d, d, dtype=torch.float64)
        for t in range(T):
            kt, vt, gt = (a[t, kh * d:(kh + 1) * d].double() for a in (k, v, g))
            S = gt.exp()[:, None] * S + torch.outer(kt, vt)
            out[t, h * d:(h + 1) * d] = scale * q[t, h * d:(h + 1) * d].double() @ S
    return out


@pytest.mark.parametrize("mode", ["recurrent", "chunked", "parallel"])
def test_gla_forms_agree_with_the_loop(mode: str) -> None:
    T, H, Hk, d = 23, 4, 2, 8
    q, k, v = torch.randn(T, H * d), torch.randn(T, Hk * d), torch.randn(T, Hk * d)
    g = torch.nn.functional.logsigmoid(torch.randn(T, Hk * d)) / 16
    core = GLACore(H, Hk, d, mode=mode, chunk=5)
    torch.testing.assert_close(core(q, k, v, g).double(), gla_loop(q, k, v, g, H, Hk, d, d ** -0.5), rtol=1e-4, atol=1e-5)


def test_gla_state_carries_across_calls() -> None:
    T, H, d = 12, 2, 4
    q, k, v = torch.randn(T, H * d), torch.randn(T, H * d), torch.randn(T, H * d)
    g = -torch.rand(T, H * d)
    core = GLACore(H, H, d, mode="chunked", chunk=4)
    full = core(q, k, v, g)
    a, s = core.forward_with_state(q[:7], k[:7], v[:7], g[:7], None)
    b, _ = core.forward_with_state(q[7:], k[7:], v[7:], g[7:], s)
    torch.testing.assert_close(torch.cat([a, b]), full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("window", [None, 1, 4])
def test_window_attention_against_loop(window: int | None) -> None:
    T, H, Hk, d = 9, 2, 1, 4
    q, k, v = torch.randn(T, H * d), torch.randn(T, Hk * d), torch.randn(T, Hk * d)
    got = WindowAttentionCore(H, Hk, d, window)(q, k, v)
    for h in range(H):
        for i in range(T):
            js = [j for j in range(T) if j <= i and (window is None or j > i - window)]
            s = torch.tensor([q[i, h * d:(h + 1) * d].double() @ k[j].double() / math.sqrt(d) for j in js])
            w = torch.softmax(s, 0)
            want = sum(w[n] * v[j].double() for n, j in enumerate(js))
            torch.testing.assert_close(got[i, h * d:(h + 1) * d].double(), want, rtol=1e-5, atol=1e-6)


def test_rope_rotates_pairs() -> None:
    x = torch.zeros(3, 4)
    x[:, 0] = 1.0
    y = RotaryEmbedding(4, 100.0)(x, offset=2)
    for t in range(3):
        a = float(2 + t)
        torch.testing.assert_close(y[t], torch.tensor([math.cos(a), 0.0, math.sin(a), 0.0]))


def test_moe_routes_top1_plus_shared() -> None:
    lin = lambda i, o, b: torch.nn.Linear(i, o, bias=b)  # noqa: E731
    m = MoEFeedForward(6, 5, experts=3, top_k=1, shared=True, linear=lin, down_linear=lin)
    x = torch.randn(7, 6)
    got = m(x)
    probs = torch.softmax(m.gate(x), -1)
    for t in range(7):
        e = int(probs[t].argmax())
        want = probs[t, e] * m.experts[e](x[t:t + 1])[0] + m.shared_expert(x[t:t + 1])[0]
        torch.testing.assert_close(got[t], want, rtol=1e-5, atol=1e-6)
