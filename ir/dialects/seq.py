"""`seq`: ops that mix information across tokens (and so carry state when decoding).

gla: per head, S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t and o_t = (scale q_t) S_t, with g in
log space (<= 0) per key channel; grouped-query heads share key/value head h // (heads/kv_heads).
window_attention: causal softmax attention in which query i sees the `window` most recent keys
including its own (i - window < j <= i); window = none is full causal attention; learned sink
keys/values (`sink_k`, `sink_v`), if any, precede them and are always visible.
rope: rotary position embedding, rotate-half convention, over each head's full width."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..opdef import EvalContext, OpDef, Params, expect, expect_kind, last_dim, register
from ..types import Type


def _expect_width(t: Type, heads: int, dim: int, what: str) -> None:
    expect_kind(t, "tensor", what)
    n = last_dim(t)
    expect(not isinstance(n, int) or n == heads * dim, f"{what} has width {n}, expected {heads} x {dim} = {heads * dim}")


def _heads(x: np.ndarray, heads: int) -> np.ndarray:
    """[seq, heads*d] -> [heads, seq, d]."""
    return x.reshape(x.shape[0], heads, -1).transpose(1, 0, 2)


class GLAParams(Params):
    heads: int
    kv_heads: int
    head_dim: int
    scale: float


@register
class GLA(OpDef):
    """Gated linear attention with a per-head matrix state."""

    name = "seq.gla"
    params = GLAParams
    operands = ("q", "k", "v", "g")

    def result_types(self, p: GLAParams, ts: list[Type]) -> list[Type]:
        expect(p.heads % p.kv_heads == 0, f"heads {p.heads} is not a multiple of kv_heads {p.kv_heads}")
        _expect_width(ts[0], p.heads, p.head_dim, "q")
        for t, what in zip(ts[1:], ("k", "v", "g")):
            _expect_width(t, p.kv_heads, p.head_dim, what)
            expect(t.shape[:-1] == ts[0].shape[:-1], f"{what} {t} and q {ts[0]} differ in leading dims")
        return [ts[0]]

    def evaluate(self, p: GLAParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        q, k, v, g = (a.astype(np.float32) for a in args)
        rep = p.heads // p.kv_heads
        q = _heads(q, p.heads) * np.float32(p.scale)
        k, v, g = (np.repeat(_heads(a, p.kv_heads), rep, axis=0) for a in (k, v, g))
        st = ctx.state()
        s = st.get("S", np.zeros((p.heads, p.head_dim, p.head_dim), np.float32))
        decay = np.exp(g)
        out = np.empty_like(q)
        for t in range(q.shape[1]):
            s = decay[:, t, :, None] * s + k[:, t, :, None] * v[:, t, None, :]
            out[:, t] = (q[:, t, None, :] @ s)[:, 0]
        st["S"] = s
        return [out.transpose(1, 0, 2).reshape(q.shape[1], -1)]


class RoPEParams(Params):
    heads: int
    head_dim: int
    theta: float = 10000.0


@register
class RoPE(OpDef):
    """Rotary position embedding at absolute positions (the decode offset included)."""

    name = "seq.rope"
    params = RoPEParams
    operands = ("x",)

    def result_types(self, p: RoPEParams, ts: list[Type]) -> list[Type]:
        expect(p.head_dim % 2 == 0, f"head_dim must be even, got {p.head_dim}")
        _expect_width(ts[0], p.heads, p.head_dim, "x")
        return [ts[0]]

    def evaluate(self, p: RoPEParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        x = _heads(args[0].astype(np.float32), p.heads)
        pos = np.arange(ctx.position, ctx.position + x.shape[1], dtype=np.float32)
        inv_freq = (1.0 / (p.theta ** (np.arange(0, p.head_dim, 2, dtype=np.int64).astype(np.float32) / p.head_dim))).astype(np.float32)
        freqs = np.outer(pos, inv_freq)
        emb = np.concatenate([freqs, freqs], axis=-1)
        cos, sin = np.cos(emb), np.sin(emb)
        half = p.head_dim // 2
        rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
        y = x * cos + rot * sin
        return [y.transpose(1, 0, 2).reshape(x.shape[1], -1).astype(np.float32)]


class WindowAttentionParams(Params):
    heads: int
    kv_heads: int
    head_dim: int
    scale: float
    window: int | None = None
    sink_k: str | None = None  # learned keys [sinks, kv_heads * head_dim] every query sees
    sink_v: str | None = None


@register
class WindowAttention(OpDef):
    """Causal softmax attention over a sliding window of keys (or all of them)."""

    name = "seq.window_attention"
    params = WindowAttentionParams
    operands = ("q", "k", "v")

    def result_types(self, p: WindowAttentionParams, ts: list[Type]) -> list[Type]:
        expect(p.heads % p.kv_heads == 0, f"heads {p.heads} is not a multiple of kv_heads {p.kv_heads}")
        expect(p.window is None or p.window >= 1, f"window must be at least 1, got {p.window}")
        expect((p.sink_k is None) == (p.sink_v is None), "sink_k and sink_v go together")
        _expect_width(ts[0], p.heads, p.head_dim, "q")
        for t, what in zip(ts[1:], ("k", "v")):
            _expect_width(t, p.kv_heads, p.head_dim, what)
            expect(t.shape[:-1] == ts[0].shape[:-1], f"{what} {t} and q {ts[0]} differ in leading dims")
        return [ts[0]]

    def evaluate(self, p: WindowAttentionParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        q, k, v = (a.astype(np.float32) for a in args)
        st = ctx.state()
        past_k = st.get("k", np.zeros((0, k.shape[1]), np.float32))
        past_v = st.get("v", np.zeros((0, v.shape[1]), np.float32))
        k_all, v_all = np.concatenate([past_k, k]), np.concatenate([past_v, v])
        keep = k_all.shape[0] if p.window is None else min(k_all.shape[0], p.window - 1)
        st["k"], st["v"] = k_all[k_all.shape[0] - keep:], v_all[v_all.shape[0] - keep:]
        rep = p.heads // p.kv_heads
        qh = _heads(q, p.heads)
        kh = np.repeat(_heads(k_all, p.kv_heads), rep, axis=0)
        vh = np.repeat(_heads(v_all, p.kv_heads), rep, axis=0)
        sinks = None
        if p.sink_k is not None:
            sk, sv = (np.asarray(ctx.weight(w), np.float32) for w in (p.sink_k, p.sink_v))
            sinks = (np.repeat(_heads(sk, p.kv_heads), rep, axis=0), np.repeat(_heads(sv, p.kv_heads), rep, axis=0))
        n_past, steps = past_k.shape[0], q.shape[0]
        # Queries in blocks: a block sees only the keys its window reaches, so a window of w costs
        # O(T·w) time and memory instead of the T x T score matrix (window none: one block).
        block = max(steps, 1) if p.window is None else max(p.window, 1)
        out = np.empty_like(qh)
        for start in range(0, steps, block):
            stop = min(steps, start + block)
            first = 0 if p.window is None else max(0, start + n_past - p.window + 1)
            i = np.arange(start, stop)[:, None] + n_past
            j = np.arange(first, stop + n_past)[None, :]
            visible = j <= i
            if p.window is not None:
                visible &= j > i - p.window
            out[:, start:stop] = _softmax_attend(qh[:, start:stop], kh[:, first:stop + n_past], vh[:, first:stop + n_past],
                                                 visible, np.float32(p.scale), sinks)
        return [out.transpose(1, 0, 2).reshape(steps, -1).astype(np.float32)]


def _softmax_attend(q: np.ndarray, k: np.ndarray, v: np.ndarray, visible: np.ndarray, scale: np.float32,
                    sinks: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """softmax(q k^T · scale) v per head over the visible keys; sink keys, if any, are always visible."""
    if sinks is not None:
        k = np.concatenate([sinks[0], k], axis=1)
        v = np.concatenate([sinks[1], v], axis=1)
        visible = np.concatenate([np.ones((visible.shape[0], sinks[0].shape[1]), bool), visible], axis=1)
    scores = (q @ k.transpose(0, 2, 1)) * scale
    scores = np.where(visible[None], scores, np.float32(-np.inf))
    scores = scores - scores.max(axis=-1, keepdims=True)
    w = np.exp(scores)
    w = w / w.sum(axis=-1, keepdims=True)
    return w @ v
