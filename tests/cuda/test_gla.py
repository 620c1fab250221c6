"""gla_chunked and gla_recurrent against a float64 token-by-token recurrence (GQA, initial state)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("triton", reason="triton is not installed: no GPU kernels to test")

from targets.cuda.kernels.gla_chunked import gla_chunked  # noqa: E402
from targets.cuda.kernels.gla_recurrent import gla_recurrent  # noqa: E402

from .helpers import rel_err  # noqa: E402

# float32 runs as tf32 in GPU dots (about 1e-3); fp16 operands and the fp16 state product about 1e-3
TOL = {torch.float32: 5e-3, torch.float16: 2e-2}


def reference(q, k, v, g, h0, scale):
    """S_t = diag(exp g_t) S_{t-1} + k_t^T v_t, o_t = (q_t*scale) S_t, float64, kv heads repeated."""
    q, k, v, g = (x.double() for x in (q, k, v, g))
    rep = q.shape[2] // k.shape[2]
    S = h0.double().clone()
    o = []
    for t in range(q.shape[1]):
        S = S * g[:, t].exp()[..., None] + k[:, t, :, :, None] * v[:, t, :, None, :]
        o.append(torch.einsum("bhk,bhkv->bhv", q[:, t] * scale, S.repeat_interleave(rep, 1)))
    return torch.stack(o, 1), S


def inputs(b, t, h, hkv, dk, dv, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    q = torch.relu(torch.randn(b, t, h, dk, generator=gen)).to(dtype)
    k = torch.relu(torch.randn(b, t, hkv, dk, generator=gen)).to(dtype)
    v = torch.randn(b, t, hkv, dv, generator=gen).to(dtype)
    g = torch.nn.functional.logsigmoid(torch.randn(b, t, hkv, dk, generator=gen) * 4) / 16
    h0 = torch.randn(b, hkv, dk, dv, generator=gen)
    return q, k, v, g, h0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("t,h,hkv,dk,dv,with_h0", [(70, 4, 2, 32, 16, True), (33, 2, 2, 16, 32, False)])
def test_chunked_matches_recurrence(device, dtype, t, h, hkv, dk, dv, with_h0) -> None:
    q, k, v, g, h0 = inputs(2, t, h, hkv, dk, dv, dtype, seed=t)
    h0 = h0 if with_h0 else torch.zeros_like(h0)
    ref_o, ref_s = reference(q, k, v, g, h0, dk ** -0.5)
    dev = lambda x: x.to(device)
    o, s = gla_chunked(dev(q), dev(k), dev(v), dev(g), initial_state=dev(h0) if with_h0 else None)
    assert o.dtype == dtype and o.shape == (2, t, h, dv) and s.shape == (2, hkv, dk, dv)
    assert rel_err(o, ref_o) < TOL[dtype]
    assert rel_err(s, ref_s) < TOL[dtype]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # masked-out A entries only
def test_strong_gates_stay_finite(device) -> None:
    """Gate logits near -40 (decay e^-2.5 per token) still fit the mid-chunk reference."""
    q, k, v, _, h0 = inputs(1, 64, 2, 1, 16, 16, torch.float32, seed=5)
    g = torch.full((1, 64, 1, 16), -2.5)
    ref_o, ref_s = reference(q, k, v, g, h0, 0.25)
    o, s = gla_chunked(*(x.to(device) for x in (q, k, v, g)), initial_state=h0.to(device))
    assert rel_err(o, ref_o) < 5e-3 and rel_err(s, ref_s) < 5e-3


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_recurrent_steps_continue_a_prefill(device, dtype) -> None:
    q, k, v, g, h0 = inputs(2, 20, 4, 2, 32, 32, dtype, seed=7)
    ref_o, ref_s = reference(q, k, v, g, h0, 32 ** -0.5)
    dev = lambda x: x.to(device)
    o_pre, state = gla_chunked(dev(q[:, :16]), dev(k[:, :16]), dev(v[:, :16]), dev(g[:, :16]), initial_state=dev(h0))
    outs = [o_pre]
    for t in range(16, 20):
        o_t, state = gla_recurrent(dev(q[:, t]), dev(k[:, t]), dev(v[:, t]), dev(g[:, t]), state, inplace=t % 2 == 0)
        outs.append(o_t[:, None])
    assert rel_err(torch.cat(outs, 1), ref_o) < TOL[dtype]
    assert rel_err(state, ref_s) < TOL[dtype]
