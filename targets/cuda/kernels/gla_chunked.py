"""Gated linear attention, chunked prefill: S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t, o_t = (q_t*scale) S_t.

One program per (batch, query head, block of value channels) walks the chunks in order and keeps
its state slice in registers, so no per-chunk states go through memory. Within a chunk of BT
tokens, with G the in-chunk cumulative log gate (per key channel, decreasing):
  inter: (q * exp(G)) S_prev                      factors <= 1
  intra: A = (q * exp(G - G_mid)) (k * exp(G_mid - G))^T, masked s <= t, then A v
  state: S = exp(G_last) S_prev + (k * exp(G_last - G))^T v   factors <= 1
The intra factors are referenced to the chunk's middle token, so each stays below
exp(sum of |g| over BT/2 tokens) and the A product is taken in float32: with BT = 32, float32 range
holds while 16 consecutive gates of a channel sum above -80 (a gate logit above about -80 for
SpikingBrain's logsigmoid/16). GQA: query head h reads kv head h // (H / Hkv); the state depends
only on the kv head, so the final state is [B, Hkv, K, V] and is written by each group's first head."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .tuning import Flavour, autotuned, config


@triton.jit
def _gla_chunked_kernel(q_ptr, k_ptr, v_ptr, g_ptr, h0_ptr, o_ptr, ht_ptr, T, H, HKV, scale,
                        sq_b, sq_t, sk_b, sk_t, sv_b, sv_t, sg_b, sg_t, so_b, so_t,
                        K: tl.constexpr, V: tl.constexpr, HAS_H0: tl.constexpr,
                        BT: tl.constexpr, BV: tl.constexpr):
    pid_v = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = (pid_bh // H).to(tl.int64)
    h = pid_bh % H
    hk = h // (H // HKV)
    rt = tl.arange(0, BT)
    rk = tl.arange(0, K)
    rv = pid_v * BV + tl.arange(0, BV)
    q_base = q_ptr + b * sq_b + h * K
    k_base = k_ptr + b * sk_b + hk * K
    v_base = v_ptr + b * sv_b + hk * V
    g_base = g_ptr + b * sg_b + hk * K
    o_base = o_ptr + b * so_b + h * V
    vmask = rv < V
    state_off = ((b * HKV + hk) * K + rk[:, None]) * V + rv[None, :]
    if HAS_H0:
        S = tl.load(h0_ptr + state_off, mask=vmask[None, :], other=0.0)
    else:
        S = tl.zeros([K, BV], dtype=tl.float32)
    causal = rt[:, None] >= rt[None, :]
    mid = rt[:, None] == (BT // 2 - 1)
    for t0 in range(0, T, BT):
        rows = t0 + rt
        live = rows < T
        r64 = rows.to(tl.int64)
        q = tl.load(q_base + r64[:, None] * sq_t + rk[None, :], mask=live[:, None], other=0.0)
        k = tl.load(k_base + r64[:, None] * sk_t + rk[None, :], mask=live[:, None], other=0.0)
        v = tl.load(v_base + r64[:, None] * sv_t + rv[None, :], mask=live[:, None] & vmask[None, :], other=0.0)
        g = tl.load(g_base + r64[:, None] * sg_t + rk[None, :], mask=live[:, None], other=0.0).to(tl.float32)
        G = tl.cumsum(g, axis=0)
        g_mid = tl.sum(tl.where(mid, G, 0.0), axis=0)
        g_last = tl.sum(g, axis=0)
        qs = q.to(tl.float32) * scale
        kf = k.to(tl.float32)
        a = tl.dot(qs * tl.exp(G - g_mid[None, :]), tl.trans(kf * tl.exp(g_mid[None, :] - G)))
        a = tl.where(causal, a, 0.0)
        o = tl.dot((qs * tl.exp(G)).to(v.dtype), S.to(v.dtype))
        o = tl.dot(a.to(v.dtype), v, o)
        tl.store(o_base + r64[:, None] * so_t + rv[None, :], o.to(o_ptr.dtype.element_ty),
                 mask=live[:, None] & vmask[None, :])
        k_state = (kf * tl.exp(g_last[None, :] - G)).to(v.dtype)
        S = S * tl.exp(g_last)[:, None]
        S = tl.dot(tl.trans(k_state), v, S)
    if h % (H // HKV) == 0:
        tl.store(ht_ptr + state_off, S, mask=vmask[None, :])


_CONFIGS = {
    "cuda": [config(4, 2, BT=32, BV=32), config(4, 2, BT=64, BV=32), config(8, 2, BT=32, BV=64),
             config(4, 3, BT=32, BV=16), config(4, 2, BT=16, BV=32), config(8, 2, BT=64, BV=64)],
    "metax": [config(4, 2, BT=32, BV=32), config(4, 1, BT=32, BV=16), config(8, 2, BT=32, BV=64)],
}
_TUNED = autotuned(_gla_chunked_kernel, _CONFIGS, key=["T", "H", "HKV", "K", "V", "HAS_H0"])


def gla_chunked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor,
                scale: float | None = None, initial_state: torch.Tensor | None = None,
                *, flavour: Flavour = "cuda") -> tuple[torch.Tensor, torch.Tensor]:
    """q [B,T,H,K], k and g [B,T,Hkv,K], v [B,T,Hkv,V] (g: log gates <= 0, any float dtype),
    initial_state f32 [B,Hkv,K,V] -> (o [B,T,H,V] in v's dtype, final state f32 [B,Hkv,K,V]).
    scale defaults to K^-1/2. K and V must be powers of two >= 16."""
    bsz, t, h, dk = q.shape
    hkv, dv = v.shape[2], v.shape[3]
    assert h % hkv == 0 and k.shape == (bsz, t, hkv, dk) and g.shape == k.shape, "GQA shapes"
    assert dk >= 16 and dv >= 16 and dk & (dk - 1) == 0 and dv & (dv - 1) == 0, "K, V: powers of two >= 16"
    q, k, v, g = (x if x.stride(-1) == 1 and x.stride(-2) == x.shape[-1] else x.contiguous() for x in (q, k, v, g))
    o = torch.empty((bsz, t, h, dv), dtype=v.dtype, device=q.device)
    ht = torch.empty((bsz, hkv, dk, dv), dtype=torch.float32, device=q.device)
    h0 = initial_state.to(torch.float32).contiguous() if initial_state is not None else ht
    grid = lambda meta: (triton.cdiv(dv, meta["BV"]), bsz * h)
    _TUNED[flavour][grid](q, k, v, g, h0, o, ht, t, h, hkv, dk ** -0.5 if scale is None else scale,
                          q.stride(0), q.stride(1), k.stride(0), k.stride(1), v.stride(0), v.stride(1),
                          g.stride(0), g.stride(1), o.stride(0), o.stride(1),
                          K=dk, V=dv, HAS_H0=initial_state is not None)
    return o, ht
