"""Causal sliding-window softmax attention with GQA (flash-attention style online softmax).

Window convention: query i attends to keys j with i - w < j <= i, i.e. w keys including itself
(the SpikingBrain paper's i-w+1 <= j <= i; flash-attn's window_size=(4096, 0) is w = 4097).
window=None is plain causal attention. Query head h reads kv head h // (H / Hkv), so K/V are never
expanded. Scale defaults to 1/sqrt(d). Key blocks wholly outside [i-w+1, i] are never visited."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .tiles import cdiv
from .tuning import Flavour, autotuned, config

LOG2E = 1.4426950408889634


@triton.jit
def _attend(q, k_base, v_base, sk_t, sv_t, rm, rn, rd, n_lo, n_hi, m_i, l_i, acc, T, W, qk_scale,
            WINDOWED: tl.constexpr, MASKED: tl.constexpr, BLOCK_N: tl.constexpr):
    """Online softmax over key blocks [n_lo, n_hi); MASKED: some pair of the block is outside the
    causal window (or past T), so scores are masked; else every pair is inside and nothing is."""
    for n0 in range(n_lo, n_hi, BLOCK_N):
        cols = n0 + rn
        c64 = cols.to(tl.int64)
        if MASKED:
            k = tl.load(k_base + c64[:, None] * sk_t + rd[None, :], mask=(cols < T)[:, None], other=0.0)
            v = tl.load(v_base + c64[:, None] * sv_t + rd[None, :], mask=(cols < T)[:, None], other=0.0)
        else:
            k = tl.load(k_base + c64[:, None] * sk_t + rd[None, :])
            v = tl.load(v_base + c64[:, None] * sv_t + rd[None, :])
        s = tl.dot(q, tl.trans(k)) * qk_scale
        if MASKED:
            keep = (cols[None, :] <= rm[:, None]) & (cols[None, :] < T)
            if WINDOWED:
                keep = keep & (cols[None, :] > rm[:, None] - W)
            s = tl.where(keep, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        p = tl.exp2(s - m_new[:, None])
        alpha = tl.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, axis=1)
        acc = tl.dot(p.to(v.dtype), v, acc * alpha[:, None])
        m_i = m_new
    return m_i, l_i, acc


@triton.jit
def _window_attention_kernel(q_ptr, k_ptr, v_ptr, o_ptr, T, H, HKV, W, qk_scale,
                             sq_b, sq_t, sk_b, sk_t, sv_b, sv_t, so_b, so_t,
                             D: tl.constexpr, WINDOWED: tl.constexpr,
                             BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """Key blocks in ascending order, in three runs: those the window's lower edge cuts, those wholly
    inside (no mask), and those the diagonal cuts. BLOCK_M is a multiple of BLOCK_N."""
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = (pid_bh // H).to(tl.int64)
    h = pid_bh % H
    hk = h // (H // HKV)
    m0 = pid_m * BLOCK_M
    rm = m0 + tl.arange(0, BLOCK_M)
    rn = tl.arange(0, BLOCK_N)
    rd = tl.arange(0, D)
    q = tl.load(q_ptr + b * sq_b + h * D + rm.to(tl.int64)[:, None] * sq_t + rd[None, :], mask=(rm < T)[:, None], other=0.0)
    k_base = k_ptr + b * sk_b + hk * D
    v_base = v_ptr + b * sv_b + hk * D
    m_i = tl.full([BLOCK_M], -1.0e30, dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, D], dtype=tl.float32)
    hi = tl.minimum(m0 + BLOCK_M, T)
    inner_hi = tl.minimum(m0, hi)  # blocks before the diagonal tile: every key precedes every query
    lo = 0
    inner_lo = 0
    if WINDOWED:
        lo = tl.maximum(m0 - W + 1, 0) // BLOCK_N * BLOCK_N
        # the first block whose keys are all inside every row's window: n0 > m0 + BLOCK_M - 1 - W
        inner_lo = tl.minimum(tl.maximum(tl.cdiv(m0 + BLOCK_M - W, BLOCK_N) * BLOCK_N, lo), inner_hi)
    m_i, l_i, acc = _attend(q, k_base, v_base, sk_t, sv_t, rm, rn, rd, lo, inner_lo, m_i, l_i, acc, T, W, qk_scale,
                            WINDOWED, True, BLOCK_N)
    m_i, l_i, acc = _attend(q, k_base, v_base, sk_t, sv_t, rm, rn, rd, inner_lo, inner_hi, m_i, l_i, acc, T, W,
                            qk_scale, WINDOWED, False, BLOCK_N)
    m_i, l_i, acc = _attend(q, k_base, v_base, sk_t, sv_t, rm, rn, rd, inner_hi, hi, m_i, l_i, acc, T, W, qk_scale,
                            WINDOWED, True, BLOCK_N)
    o = acc / tl.where(l_i > 0.0, l_i, 1.0)[:, None]  # l_i is 0 only on padding rows past T
    tl.store(o_ptr + b * so_b + h * D + rm.to(tl.int64)[:, None] * so_t + rd[None, :], o.to(o_ptr.dtype.element_ty),
             mask=(rm < T)[:, None])


_CONFIGS = {
    "cuda": [config(8, 3, BLOCK_M=128, BLOCK_N=64), config(4, 3, BLOCK_M=64, BLOCK_N=64),
             config(8, 4, BLOCK_M=128, BLOCK_N=128), config(4, 4, BLOCK_M=128, BLOCK_N=32)],
    "metax": [config(4, 2, BLOCK_M=64, BLOCK_N=64), config(8, 2, BLOCK_M=128, BLOCK_N=64)],
}
_TUNED = autotuned(_window_attention_kernel, _CONFIGS, key=["T", "H", "HKV", "D", "WINDOWED"])


def window_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int | None,
                     scale: float | None = None, *, flavour: Flavour = "cuda") -> torch.Tensor:
    """q [B,T,H,D], k and v [B,T,Hkv,D] -> o [B,T,H,D]; query i sees keys i-window < j <= i."""
    bsz, t, h, d = q.shape
    hkv = k.shape[2]
    assert h % hkv == 0 and k.shape == (bsz, t, hkv, d) and v.shape == k.shape, "GQA shapes"
    assert d >= 16 and d & (d - 1) == 0, "head dim: a power of two >= 16"
    assert window is None or window >= 1, "a window holds at least the query's own key"
    q, k, v = (x if x.stride(-1) == 1 and x.stride(-2) == d else x.contiguous() for x in (q, k, v))
    o = torch.empty_like(q)
    sm = d ** -0.5 if scale is None else scale
    grid = lambda meta: (cdiv(t, meta["BLOCK_M"]), bsz * h)
    _TUNED[flavour][grid](q, k, v, o, t, h, hkv, window or 0, sm * LOG2E,
                          q.stride(0), q.stride(1), k.stride(0), k.stride(1), v.stride(0), v.stride(1),
                          o.stride(0), o.stride(1), D=d, WINDOWED=window is not None)
    return o
