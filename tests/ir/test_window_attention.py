"""seq.window_attention's blocked evaluation equals the definition (softmax over the whole
causal score matrix with the window masked in), in prefill and across decode calls, with and
without sink keys, while its cost grows linearly with the prompt."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from sbcompile.ir.dialects.seq import WindowAttention, WindowAttentionParams

HEADS, KV, DIM = 4, 2, 8


class Ctx:
    """A minimal evaluation context: weights by name, one state slot."""

    position = 0

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.weights, self.slot = weights, {}

    def weight(self, name: str) -> np.ndarray:
        return self.weights[name]

    def state(self) -> dict[str, Any]:
        return self.slot

    def record(self, key: str, value: Any) -> None: ...


def definition(q: np.ndarray, k: np.ndarray, v: np.ndarray, window: int | None, sinks: tuple | None) -> np.ndarray:
    """The full T x T computation, as the op is specified."""
    t = q.shape[0]
    rep = HEADS // KV
    qh = q.reshape(t, HEADS, DIM).transpose(1, 0, 2)
    kh = np.repeat(k.reshape(t, KV, DIM).transpose(1, 0, 2), rep, axis=0)
    vh = np.repeat(v.reshape(t, KV, DIM).transpose(1, 0, 2), rep, axis=0)
    i, j = np.arange(t)[:, None], np.arange(t)[None, :]
    visible = (j <= i) & ((j > i - window) if window else True)
    if sinks is not None:
        sk, sv = (np.repeat(s.reshape(-1, KV, DIM).transpose(1, 0, 2), rep, axis=0) for s in sinks)
        kh, vh = np.concatenate([sk, kh], 1), np.concatenate([sv, vh], 1)
        visible = np.concatenate([np.ones((t, sk.shape[1]), bool), visible], 1)
    s = np.where(visible[None], qh @ kh.transpose(0, 2, 1) * np.float32(0.3), -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    return ((w / w.sum(-1, keepdims=True)) @ vh).transpose(1, 0, 2).reshape(t, -1)


@pytest.mark.parametrize("window", [None, 1, 3, 16, 200])
@pytest.mark.parametrize("with_sinks", [False, True])
def test_blocked_equals_definition_in_prefill_and_decode(window: int | None, with_sinks: bool) -> None:
    rng = np.random.default_rng(window or 0)
    t = 70
    q, k, v = (rng.standard_normal((t, n * DIM)).astype(np.float32) for n in (HEADS, KV, KV))
    weights = {"sk": rng.standard_normal((2, KV * DIM)).astype(np.float32),
               "sv": rng.standard_normal((2, KV * DIM)).astype(np.float32)}
    sinks = (weights["sk"], weights["sv"]) if with_sinks else None
    p = WindowAttentionParams(heads=HEADS, kv_heads=KV, head_dim=DIM, scale=0.3, window=window,
                              sink_k="sk" if with_sinks else None, sink_v="sv" if with_sinks else None)
    want = definition(q, k, v, window, sinks)
    op = WindowAttention()
    (whole,) = op.evaluate(p, [q, k, v], Ctx(weights))
    np.testing.assert_allclose(whole, want, rtol=1e-5, atol=1e-6)
    ctx = Ctx(weights)  # a prompt of 50, then 20 tokens decoded in calls of 1, 2, 3, ...
    parts, done, n = [op.evaluate(p, [q[:50], k[:50], v[:50]], ctx)[0]], 50, 1
    while done < t:
        parts.append(op.evaluate(p, [q[done:done + n], k[done:done + n], v[done:done + n]], ctx)[0])
        done, n = done + n, n + 1
    np.testing.assert_allclose(np.concatenate(parts), want, rtol=1e-5, atol=1e-6)


def test_cost_grows_linearly_with_the_prompt() -> None:
    p = WindowAttentionParams(heads=HEADS, kv_heads=KV, head_dim=DIM, scale=0.3, window=64)
    seconds = []
    for t in (4000, 16000):
        q, k, v = (np.ones((t, n * DIM), np.float32) for n in (HEADS, KV, KV))
        t0 = time.perf_counter()
        WindowAttention().evaluate(p, [q, k, v], Ctx({}))
        seconds.append(time.perf_counter() - t0)
    assert seconds[1] < 4 * seconds[0] * 2.5  # 4x the tokens: about 4x the time (quadratic would be 16x)
