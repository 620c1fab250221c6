"""The sequence mixers in integers, as neurons on a neuromorphic chip compute them: `seq.fixed_gla`
(made from `seq.gla` by the `fixed-gla` pass) and `seq.fixed_window_attention` (made from
`seq.window_attention` by `fixed-attention`); docs/ir.md.

fixed_gla: per head the state S (head_dim x head_dim) is 24-bit integers with `state_frac`
fraction bits. q, k, v arrive as 24-bit fixed point (`q_frac`, `k_frac`, `v_frac`; x_q =
clip(rint(x 2^f))), the gate g (log decay, <= 0) as fixed point too (`gate_frac`), whose
negation (clipped to [0, 2^23 - 1]) is the decay code c. The decay is exp(-c 2^-gate_frac) with
`decay_bits` fraction bits, read from three small tables (the code's whole part, its high and its
low fraction halves; entries round(2^D exp(-j u)) for their units u) and multiplied together,
each product rounded: no exp, no division. Per token:

    S <- clip(rnd(decay_d S_de, D) + rnd(k_d v_e, k_frac + v_frac - state_frac))
    o_e = clip(rnd(rnd(sum_d rnd(q_d S_de, q_frac + state_frac - out_frac - 4), 4) scale_q, 16))

with rnd(x, s) = floor((x + 2^(s-1)) / 2^s) (round half up; a left shift for s <= 0), clip to 24
bits (the state's saturations are recorded as `saturated`), scale_q = rint(scale 2^16). Each
product q_d S_de is rounded before the sum, as a neuron sends it as a graded spike for the
dendrites to sum (4 guard bits beyond the output's fraction bits). The result is o_q
2^-out_frac as float32, exact, so a fixed-point norm with the same fraction bits takes the
integers as they are.

fixed_window_attention: integer scores, softmax weights exp(s - max s) from the same tables, and
one integer division per output, rounded half to even (see the op)."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from ..fixed import FIXED_LIMIT, divide_round_even, fixed_input, fixed_value
from ..opdef import EvalContext, expect, register
from ..types import Type
from .seq import GLA, GLAParams, WindowAttention, WindowAttentionParams, _heads as heads_of

SCALE_BITS = 16
GUARD_BITS = 4  # fraction bits each q S product keeps beyond the output's while the dendrites sum them


class FixedGLAParams(GLAParams):
    q_frac: int
    k_frac: int
    v_frac: int
    out_frac: int
    state_frac: int
    gate_frac: int = 16
    decay_bits: int = 16


def shift_round(x: np.ndarray, s: int) -> np.ndarray:
    """x / 2^s rounded half up (an add and an arithmetic shift); x 2^-s for s <= 0."""
    return x << -s if s <= 0 else (x + (1 << (s - 1))) >> s


@lru_cache(maxsize=None)
def decay_tables(gate_frac: int, decay_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """exp(-c 2^-gate_frac) 2^decay_bits as three tables: by the code's whole part (natural
    units, up to where the decay rounds to 0), its high and its low halves of fraction bits."""
    lo_bits = gate_frac // 2
    hi_bits = gate_frac - lo_bits
    one = 2.0 ** decay_bits
    whole = [round(one * math.exp(-j)) for j in range(int(decay_bits * math.log(2)) + 3)]
    hi = [round(one * math.exp(-j * 2.0 ** -hi_bits)) for j in range(2 ** hi_bits)]
    lo = [round(one * math.exp(-j * 2.0 ** -gate_frac)) for j in range(2 ** lo_bits)]
    return tuple(np.array(t, np.int64) for t in (whole, hi, lo))  # type: ignore[return-value]


def decay_of_codes(codes: np.ndarray, gate_frac: int, decay_bits: int) -> np.ndarray:
    """The integer decay (`decay_bits` fraction bits) of non-negative gate codes."""
    whole, hi, lo = decay_tables(gate_frac, decay_bits)
    lo_bits = gate_frac // 2
    w = np.minimum(codes >> gate_frac, len(whole) - 1)
    h = (codes >> lo_bits) & (len(hi) - 1)
    low = codes & (len(lo) - 1)
    return shift_round(shift_round(whole[w] * hi[h], decay_bits) * lo[low], decay_bits)


def gate_codes(gq: np.ndarray) -> np.ndarray:
    """The decay codes of log decays in fixed point (<= 0; a positive one decays by nothing)."""
    return np.clip(-gq, 0, FIXED_LIMIT)


def fixed_gla_step(s: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray, decay: np.ndarray,
                   p: FixedGLAParams) -> tuple[np.ndarray, np.ndarray, int]:
    """One token for every head: state [H, D, D] and q, k, v, decay [H, D] integers -> the new
    state, the output integers [H, D] and how many state entries saturated."""
    grown = shift_round(decay[:, :, None] * s, p.decay_bits) + shift_round(
        k[:, :, None] * v[:, None, :], p.k_frac + p.v_frac - p.state_frac)
    s = np.clip(grown, -FIXED_LIMIT, FIXED_LIMIT)
    terms = shift_round(q[:, :, None] * s, p.q_frac + p.state_frac - p.out_frac - GUARD_BITS)
    o = shift_round(shift_round(terms.sum(axis=1), GUARD_BITS) * scale_code(p), SCALE_BITS)
    return s, np.clip(o, -FIXED_LIMIT, FIXED_LIMIT), int((s != grown).sum())


def scale_code(p: GLAParams | WindowAttentionParams) -> int:
    return int(round(p.scale * 2 ** SCALE_BITS))


def input_fracs(p: FixedGLAParams) -> tuple[int, int, int, int]:
    """The fraction bits q, k, v and g arrive with."""
    return p.q_frac, p.k_frac, p.v_frac, p.gate_frac


def fixed_gla(state: np.ndarray | None, ints: list[np.ndarray], p: FixedGLAParams) -> tuple[np.ndarray, np.ndarray, int]:
    """Run the integer recurrence over a sequence of fixed-point q, k, v, g ([seq, width] each):
    (final state, output integers [seq, heads*D], saturations)."""
    q, k, v, gq = ints
    codes = gate_codes(gq)
    rep = p.heads // p.kv_heads
    qh = heads_of(q, p.heads)
    kh, vh, dh = (np.repeat(heads_of(a, p.kv_heads), rep, axis=0) for a in (k, v, codes))
    dh = decay_of_codes(dh, p.gate_frac, p.decay_bits)
    s = np.zeros((p.heads, p.head_dim, p.head_dim), np.int64) if state is None else state
    out = np.empty(qh.shape, np.int64)
    saturated = 0
    for t in range(qh.shape[1]):
        s, out[:, t], n = fixed_gla_step(s, qh[:, t], kh[:, t], vh[:, t], dh[:, t], p)
        saturated += n
    return s, out.transpose(1, 0, 2).reshape(qh.shape[1], -1), saturated


def expect_fracs(p: Any, fields: tuple[str, ...]) -> None:
    """Fraction bits of 24-bit values lie in [0, 23]."""
    for f in fields:
        expect(0 <= getattr(p, f) <= 23, f"{f} must lie in [0, 23], got {getattr(p, f)}")


@register
class FixedGLA(GLA):
    """Gated linear attention with an integer state and table decays."""

    name = "seq.fixed_gla"
    params = FixedGLAParams

    def result_types(self, p: FixedGLAParams, ts: list[Type]) -> list[Type]:
        expect_fracs(p, ("q_frac", "k_frac", "v_frac", "out_frac", "state_frac"))
        expect(2 <= p.gate_frac <= 20 and 8 <= p.decay_bits <= 23,
               f"gate_frac must lie in [2, 20] and decay_bits in [8, 23], got {p.gate_frac} and {p.decay_bits}")
        return super().result_types(p, ts)

    def evaluate(self, p: FixedGLAParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        st = ctx.state()
        ints = [fixed_input(x, f) for x, f in zip(args, input_fracs(p))]
        st["S"], out, saturated = fixed_gla(st.get("S"), ints, p)
        if saturated:
            ctx.record("saturated", saturated)
        return [fixed_value(out, p.out_frac)]


# ---- seq.fixed_window_attention ----


class FixedWindowAttentionParams(WindowAttentionParams):
    q_frac: int
    k_frac: int
    v_frac: int
    out_frac: int
    score_frac: int = 12
    prob_bits: int = 16


def softmax_weights(scores: np.ndarray, p: FixedWindowAttentionParams) -> np.ndarray:
    """Unnormalised integer weights exp(s - max s) 2^prob_bits of integer scores (`score_frac`
    fraction bits) along the last axis, by the decay tables."""
    codes = np.clip(scores.max(axis=-1, keepdims=True) - scores, 0, FIXED_LIMIT)
    return decay_of_codes(codes, p.score_frac, p.prob_bits)


@register
class FixedWindowAttention(WindowAttention):
    """Sliding-window softmax attention in integers: exp by table, one integer division per output."""

    name = "seq.fixed_window_attention"
    params = FixedWindowAttentionParams

    def result_types(self, p: FixedWindowAttentionParams, ts: list[Type]) -> list[Type]:
        expect_fracs(p, ("q_frac", "k_frac", "v_frac", "out_frac", "score_frac"))
        expect(8 <= p.prob_bits <= 23, f"prob_bits must lie in [8, 23], got {p.prob_bits}")
        return super().result_types(p, ts)

    def evaluate(self, p: FixedWindowAttentionParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        ints = [fixed_input(x, f) for x, f in zip(args, attention_fracs(p))]
        sinks = [fixed_input(np.asarray(ctx.weight(w)), f) for w, f in ((p.sink_k, p.k_frac), (p.sink_v, p.v_frac))
                 if w is not None]
        return [fixed_value(fixed_attention(ctx.state(), ints, sinks, p), p.out_frac)]


def attention_fracs(p: FixedWindowAttentionParams) -> tuple[int, int, int]:
    """The fraction bits q, k and v arrive with."""
    return p.q_frac, p.k_frac, p.v_frac


def fixed_attention(cache: dict[str, np.ndarray], ints: list[np.ndarray], sinks: list[np.ndarray],
                    p: FixedWindowAttentionParams) -> np.ndarray:
    """Run over a sequence of fixed-point q, k, v ([seq, width] int64 each): the output integers
    [seq, heads*D]. `cache` holds the window's past keys and values ("k", "v") and is updated;
    `sinks` the sink keys and values as fixed point (or nothing)."""
    q, k, v = ints
    rep = p.heads // p.kv_heads
    out = np.empty((q.shape[0], p.heads, p.head_dim), np.int64)
    for t in range(q.shape[0]):
        k_all, v_all = (np.concatenate([cache.get(n, x[:0]), x[t:t + 1]]) for n, x in (("k", k), ("v", v)))
        past = k_all.shape[0] if p.window is None else min(k_all.shape[0], p.window - 1)
        cache["k"], cache["v"] = k_all[k_all.shape[0] - past:], v_all[v_all.shape[0] - past:]
        if sinks:
            k_all, v_all = np.concatenate([sinks[0], k_all]), np.concatenate([sinks[1], v_all])
        kh, vh = (np.repeat(heads_of(x, p.kv_heads), rep, axis=0) for x in (k_all, v_all))  # [heads, keys, d]
        raw = np.einsum("hd,hkd->hk", q[t].reshape(p.heads, p.head_dim), kh)
        scores = shift_round(shift_round(raw, p.q_frac + p.k_frac - p.score_frac) * scale_code(p), SCALE_BITS)
        w = softmax_weights(scores, p)
        num = np.einsum("hk,hkd->hd", w, vh)
        total = w.sum(axis=-1, keepdims=True)
        shift = p.out_frac - p.v_frac
        out[t] = divide_round_even(num << max(0, shift), total << max(0, -shift))
    return np.clip(out.reshape(q.shape[0], -1), -FIXED_LIMIT, FIXED_LIMIT)
