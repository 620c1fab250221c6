"""The reference interpreter: op semantics against straightforward float64 loops, decoding after
prefill against a longer prefill, and activity statistics."""

from __future__ import annotations

import numpy as np
import pytest

from sbcompile.ir import Builder, Module, SbirError, lookup, tensor, verify
from sbcompile.ir.dialects.spike import EncodeParams
from sbcompile.ir.activity import SpikeStats
from sbcompile.ir.interpreter import Interpreter

from .handmade import tiny_lm


class Ctx:
    def __init__(self, position: int = 0) -> None:
        self.position = position
        self._state: dict = {}

    def state(self) -> dict:
        return self._state


def test_encode_matches_its_definition_and_rounds_ties_to_even() -> None:
    x = np.array([[0.5, 1.5, 2.5, -0.5, -1.5, 1.0]], np.float32)  # mean|x| = 1.25, k = 1.25: V_th = 1
    (s,) = lookup("spike.encode").evaluate(EncodeParams(k=1.25), [x], Ctx())
    np.testing.assert_array_equal(s.counts, [[0, 2, 2, 0, -2, 1]])
    assert s.scale.dtype == np.float32 and s.scale[0, 0] == 1.0
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 64)).astype(np.float32)
    (s,) = lookup("spike.encode").evaluate(EncodeParams(), [x], Ctx())
    vth = np.float32(np.clip(np.abs(x.astype(np.float64)).mean(-1, keepdims=True) / 3.0, 1e-5, 1e4))
    np.testing.assert_array_equal(s.counts, np.round(x.astype(np.float64) / vth.astype(np.float64)))
    assert np.abs(s.decode() - x).max() <= vth.max() / 2 + 1e-6


def test_gla_matches_float64_loop() -> None:
    rng = np.random.default_rng(2)
    T, H, Hk, D = 7, 4, 2, 3
    q, k, v = (rng.standard_normal((T, n * D)).astype(np.float32) for n in (H, Hk, Hk))
    g = -np.abs(rng.standard_normal((T, Hk * D))).astype(np.float32)
    d = lookup("seq.gla")
    p = d.params(heads=H, kv_heads=Hk, head_dim=D, scale=0.5)
    (out,) = d.evaluate(p, [q, k, v, g], Ctx())
    want = np.zeros((T, H, D))
    for h in range(H):
        kh = h // (H // Hk)
        S = np.zeros((D, D))
        for t in range(T):
            kt, vt, gt = (a[t].reshape(Hk, D)[kh].astype(np.float64) for a in (k, v, g))
            S = np.exp(gt)[:, None] * S + np.outer(kt, vt)
            want[t, h] = 0.5 * q[t].reshape(H, D)[h] @ S
    np.testing.assert_allclose(out, want.reshape(T, H * D), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("window", [None, 1, 3])
def test_window_attention_matches_float64_loop(window: int | None) -> None:
    rng = np.random.default_rng(3)
    T, H, Hk, D = 6, 2, 1, 4
    q, k, v = (rng.standard_normal((T, n * D)).astype(np.float32) for n in (H, Hk, Hk))
    d = lookup("seq.window_attention")
    (out,) = d.evaluate(d.params(heads=H, kv_heads=Hk, head_dim=D, scale=0.5, window=window), [q, k, v], Ctx())
    want = np.zeros((T, H, D))
    for h in range(H):
        for i in range(T):
            js = [j for j in range(T) if j <= i and (window is None or j > i - window)]
            s = np.array([0.5 * q[i].reshape(H, D)[h].astype(np.float64) @ k[j].astype(np.float64) for j in js])
            w = np.exp(s - s.max())
            w /= w.sum()
            want[i, h] = sum(wj * v[j].astype(np.float64) for wj, j in zip(w, js))
    np.testing.assert_allclose(out, want.reshape(T, H * D), rtol=1e-5, atol=1e-6)


def test_rope_rotates_pairs_by_position() -> None:
    d = lookup("seq.rope")
    x = np.tile(np.array([1.0, 0.0, 0.0, 0.0], np.float32), (3, 1))  # one head of width 4
    (y,) = d.evaluate(d.params(heads=1, head_dim=4, theta=100.0), [x], Ctx(position=5))
    for t in range(3):
        angle = (5 + t) * 1.0  # first frequency is theta^0 = 1
        np.testing.assert_allclose(y[t], [np.cos(angle), 0, np.sin(angle), 0], atol=1e-6)


def test_lif_matches_loop() -> None:
    m = Module("lif")
    b = Builder(m)
    x = b.input("current", tensor(["seq", 3]))
    b.output(b.op("neuron.lif", [x], leak=0.25, v_th=1.0, reset="subtract"))
    verify(m)
    cur = np.array([[0.6, 1.2, 0.0], [0.6, 0.0, 2.5], [0.6, 0.0, 0.0]], np.float32)
    (s,) = Interpreter(m)(current=cur)
    v, want = np.zeros(3), []
    for t in range(3):
        v = 0.75 * v + cur[t]
        f = v >= 1.0
        want.append(f.astype(np.int8))
        v = np.where(f, v - 1.0, v)
    np.testing.assert_array_equal(s.counts, np.array(want))


@pytest.mark.parametrize("spiking", [True, False])
def test_decode_after_prefill_equals_longer_prefill(spiking: bool) -> None:
    m = tiny_lm(spiking=spiking)
    verify(m)
    tokens = np.frombuffer(b"hello, spiking world", np.uint8).astype(np.int32)
    (full,) = Interpreter(m)(tokens=tokens)
    step = Interpreter(m)
    rows = [step(tokens=tokens[:12])[0]]
    rows += [step(tokens=tokens[i:i + 1])[0] for i in range(12, len(tokens))]
    np.testing.assert_allclose(np.concatenate(rows), full, rtol=1e-5, atol=1e-5)


def test_activity_statistics() -> None:
    s = SpikeStats(3)
    s.add(np.array([[0, 1, -7], [0, 8, 2]]))
    got = s.summary()
    assert got["zero_fraction"] == 2 / 6 and got["silent_channels"] == 1 and got["max_count"] == 8
    assert got["spikes_per_channel"] == 18 / 6 and got["share_le_7"] == 5 / 6
    # bits: 0,1,3 | 0,1,1 -> 6 spikes; slots: 3,3,3 | 3,4,3 -> 19
    assert got["sparsity"] == pytest.approx(1 - 6 / 19)


def test_missing_input_is_named() -> None:
    with pytest.raises(SbirError, match="input 'tokens' was not given"):
        Interpreter(tiny_lm())(wrong=np.zeros(3, np.int32))
