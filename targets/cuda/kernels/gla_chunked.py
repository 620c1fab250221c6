"""Gated linear attention, chunked prefill: S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t, o_t = (q_t*scale) S_t.

Three launches, so that only an elementwise scan is sequential:
  1. per chunk (all in parallel): its own state increment D_c = (k * exp(G_last - G))^T v and decay
     exp(G_last), with G the in-chunk cumulative log gate (per key channel, decreasing);
  2. per kv head and value block: S_c = exp(G_last,c) S_{c-1} + D_c over the chunks in order,
     overwriting D_c with the state that enters chunk c (float32), and writing the final state;
  3. per chunk and query head (all in parallel):
       o = (q * exp(G)) S_in  +  A v,   A = (q * exp(G - G_mid)) (k * exp(G_mid - G))^T masked s <= t.
The factors of 1 and of the inter term are <= 1. The intra factors are referenced to the chunk's
middle token, so each stays below exp(sum of |g| over chunk/2 tokens) and A is taken in float32:
with chunk = 64, float32 range holds while 32 consecutive gates of a channel sum above -80 (mean
g above -2.5, a gate logit above about -40 for SpikingBrain's logsigmoid/16; chunk = 32 doubles that).
GQA: query head h reads kv head h // (H / Hkv); the state depends only on the kv head, so the
states are [B, Hkv, K, V]."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .tiles import cdiv
from .tuning import Flavour, autotuned, config


@triton.jit
def _load_chunk(base, stride_t, rows, cols, live, other_mask=None):
    mask = live[:, None] if other_mask is None else live[:, None] & other_mask[None, :]
    return tl.load(base + rows.to(tl.int64)[:, None] * stride_t + cols[None, :], mask=mask, other=0.0)


@triton.jit
def _chunk_delta_kernel(k_ptr, v_ptr, g_ptr, d_ptr, dec_ptr, T, HKV, sk_b, sk_t, sv_b, sv_t, sg_b, sg_t,
                        K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr):
    c = tl.program_id(0)
    pid_bk = tl.program_id(1)
    nt = tl.num_programs(0)
    b = (pid_bk // HKV).to(tl.int64)
    hk = pid_bk % HKV
    rows = c * BT + tl.arange(0, BT)
    live = rows < T
    rk = tl.arange(0, K)
    rv = tl.arange(0, V)
    k = _load_chunk(k_ptr + b * sk_b + hk * K, sk_t, rows, rk, live).to(tl.float32)
    v = _load_chunk(v_ptr + b * sv_b + hk * V, sv_t, rows, rv, live)
    g = _load_chunk(g_ptr + b * sg_b + hk * K, sg_t, rows, rk, live).to(tl.float32)
    G = tl.cumsum(g, axis=0)
    g_last = tl.sum(g, axis=0)
    kd = (k * tl.exp(g_last[None, :] - G)).to(v.dtype)
    d = tl.dot(tl.trans(kd), v)
    slot = pid_bk.to(tl.int64) * nt + c
    tl.store(d_ptr + (slot * K + rk[:, None]) * V + rv[None, :], d)
    tl.store(dec_ptr + slot * K + rk, tl.exp(g_last))


@triton.jit
def _chunk_scan_kernel(d_ptr, dec_ptr, h0_ptr, ht_ptr, NT, K: tl.constexpr, V: tl.constexpr,
                       HAS_H0: tl.constexpr, BV: tl.constexpr):
    pid_v = tl.program_id(0)
    pid_bk = tl.program_id(1).to(tl.int64)
    rk = tl.arange(0, K)
    rv = pid_v * BV + tl.arange(0, BV)
    vmask = rv[None, :] < V
    tile = rk[:, None] * V + rv[None, :]
    if HAS_H0:
        S = tl.load(h0_ptr + pid_bk * K * V + tile, mask=vmask, other=0.0)
    else:
        S = tl.zeros([K, BV], dtype=tl.float32)
    for c in range(0, NT):
        slot = pid_bk * NT + c
        d = tl.load(d_ptr + slot * K * V + tile, mask=vmask, other=0.0)
        dec = tl.load(dec_ptr + slot * K + rk)
        tl.store(d_ptr + slot * K * V + tile, S, mask=vmask)
        S = S * dec[:, None] + d
    tl.store(ht_ptr + pid_bk * K * V + tile, S, mask=vmask)


@triton.jit
def _chunk_output_kernel(q_ptr, k_ptr, v_ptr, g_ptr, s_ptr, o_ptr, T, H, HKV, scale,
                         sq_b, sq_t, sk_b, sk_t, sv_b, sv_t, sg_b, sg_t, so_b, so_t,
                         K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BV: tl.constexpr):
    pid_v = tl.program_id(0)
    c = tl.program_id(1)
    pid_bh = tl.program_id(2)
    nt = tl.num_programs(1)
    b = (pid_bh // H).to(tl.int64)
    h = pid_bh % H
    hk = h // (H // HKV)
    rt = tl.arange(0, BT)
    rows = c * BT + rt
    live = rows < T
    rk = tl.arange(0, K)
    rv = pid_v * BV + tl.arange(0, BV)
    vmask = rv < V
    q = _load_chunk(q_ptr + b * sq_b + h * K, sq_t, rows, rk, live).to(tl.float32) * scale
    k = _load_chunk(k_ptr + b * sk_b + hk * K, sk_t, rows, rk, live).to(tl.float32)
    v = _load_chunk(v_ptr + b * sv_b + hk * V, sv_t, rows, rv, live, vmask)
    g = _load_chunk(g_ptr + b * sg_b + hk * K, sg_t, rows, rk, live).to(tl.float32)
    slot = (b * HKV + hk) * nt + c
    S = tl.load(s_ptr + (slot * K + rk[:, None]) * V + rv[None, :], mask=vmask[None, :], other=0.0)
    G = tl.cumsum(g, axis=0)
    g_mid = tl.sum(tl.where(rt[:, None] == (BT // 2 - 1), G, 0.0), axis=0)
    a = tl.dot(q * tl.exp(G - g_mid[None, :]), tl.trans(k * tl.exp(g_mid[None, :] - G)))
    a = tl.where(rt[:, None] >= rt[None, :], a, 0.0)
    o = tl.dot((q * tl.exp(G)).to(v.dtype), S.to(v.dtype))
    o = tl.dot(a.to(v.dtype), v, o)
    tl.store(o_ptr + b * so_b + h * V + rows.to(tl.int64)[:, None] * so_t + rv[None, :],
             o.to(o_ptr.dtype.element_ty), mask=live[:, None] & vmask[None, :])


_DELTA = autotuned(_chunk_delta_kernel, {"cuda": [config(8, 1), config(4, 1)], "metax": [config(8, 1), config(4, 1)]},
                   key=["HKV", "K", "V", "BT"])
_SCAN = autotuned(_chunk_scan_kernel, {"cuda": [config(4, 2, BV=32), config(4, 3, BV=16), config(8, 2, BV=64)],
                                       "metax": [config(4, 2, BV=32), config(4, 2, BV=16)]},
                  key=["NT", "K", "V", "HAS_H0"], restore_value=["d_ptr"])  # the scan works in place
_OUTPUT = autotuned(_chunk_output_kernel,
                    {"cuda": [config(4, 2, BV=64), config(8, 2, BV=128), config(4, 2, BV=32), config(8, 3, BV=64)],
                     "metax": [config(4, 2, BV=64), config(4, 2, BV=32), config(8, 2, BV=128)]},
                    key=["T", "H", "HKV", "K", "V", "BT"])


def gla_chunked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor,
                scale: float | None = None, initial_state: torch.Tensor | None = None,
                *, chunk: int = 64, flavour: Flavour = "cuda") -> tuple[torch.Tensor, torch.Tensor]:
    """q [B,T,H,K], k and g [B,T,Hkv,K], v [B,T,Hkv,V] (g: log gates <= 0, any float dtype),
    initial_state f32 [B,Hkv,K,V] -> (o [B,T,H,V] in v's dtype, final state f32 [B,Hkv,K,V]).
    scale defaults to K^-1/2. K and V: powers of two >= 16; chunk: a power of two >= 16."""
    bsz, t, h, dk = q.shape
    hkv, dv = v.shape[2], v.shape[3]
    assert h % hkv == 0 and k.shape == (bsz, t, hkv, dk) and g.shape == k.shape, "GQA shapes"
    assert dk >= 16 and dv >= 16 and dk & (dk - 1) == 0 and dv & (dv - 1) == 0, "K, V: powers of two >= 16"
    assert chunk >= 16 and chunk & (chunk - 1) == 0, "chunk: a power of two >= 16"
    q, k, v, g = (x if x.stride(-1) == 1 and x.stride(-2) == x.shape[-1] else x.contiguous() for x in (q, k, v, g))
    nt = cdiv(t, chunk)
    states = torch.empty((bsz * hkv, nt, dk, dv), dtype=torch.float32, device=q.device)
    decay = torch.empty((bsz * hkv, nt, dk), dtype=torch.float32, device=q.device)
    o = torch.empty((bsz, t, h, dv), dtype=v.dtype, device=q.device)
    ht = torch.empty((bsz, hkv, dk, dv), dtype=torch.float32, device=q.device)
    h0 = initial_state.to(torch.float32).contiguous() if initial_state is not None else ht
    kvg = (k.stride(0), k.stride(1), v.stride(0), v.stride(1), g.stride(0), g.stride(1))
    _DELTA[flavour][(nt, bsz * hkv)](k, v, g, states, decay, t, hkv, *kvg, K=dk, V=dv, BT=chunk)
    _SCAN[flavour][lambda meta: (cdiv(dv, meta["BV"]), bsz * hkv)](
        states, decay, h0, ht, nt, K=dk, V=dv, HAS_H0=initial_state is not None)
    _OUTPUT[flavour][lambda meta: (cdiv(dv, meta["BV"]), nt, bsz * h)](
        q, k, v, g, states, o, t, h, hkv, dk ** -0.5 if scale is None else scale,
        q.stride(0), q.stride(1), *kvg, o.stride(0), o.stride(1), K=dk, V=dv, BT=chunk)
    return o, ht
