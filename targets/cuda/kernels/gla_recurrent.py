"""Gated linear attention, one decode step: S = diag(exp(g)) S + k^T v, then o_h = (q_h*scale) S.

Memory-bound: each program reads and writes one [K, BV] slice of a kv head's float32 state once and
serves every query head of that GQA group from it, so the state moves through memory once per
step, not once per query head (the expanded layout SpikingBrain uses would move it 7 times)."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import pdl
from .tiles import cdiv
from .tuning import Flavour, autotuned, config


@triton.jit
def _gla_recurrent_kernel(q_ptr, k_ptr, v_ptr, g_ptr, s_ptr, o_ptr, ns_ptr, H, HKV, scale,
                          K: tl.constexpr, V: tl.constexpr, GQ: tl.constexpr, BV: tl.constexpr, PDL: tl.constexpr):
    pdl.entry(PDL)
    pid_v = tl.program_id(0)
    pid_bk = tl.program_id(1).to(tl.int64)
    b = pid_bk // HKV
    rk = tl.arange(0, K)
    rv = pid_v * BV + tl.arange(0, BV)
    vmask = rv < V
    off = (pid_bk * K + rk[:, None]) * V + rv[None, :]
    S = tl.load(s_ptr + off, mask=vmask[None, :], other=0.0)
    k = tl.load(k_ptr + pid_bk * K + rk).to(tl.float32)
    g = tl.load(g_ptr + pid_bk * K + rk).to(tl.float32)
    v = tl.load(v_ptr + pid_bk * V + rv, mask=vmask, other=0.0).to(tl.float32)
    S = S * tl.exp(g)[:, None] + k[:, None] * v[None, :]
    tl.store(ns_ptr + off, S, mask=vmask[None, :])
    h0 = (pid_bk % HKV) * GQ
    for i in tl.static_range(GQ):
        row = b * H + h0 + i
        q = tl.load(q_ptr + row * K + rk).to(tl.float32) * scale
        o = tl.sum(q[:, None] * S, axis=0)
        tl.store(o_ptr + row * V + rv, o.to(o_ptr.dtype.element_ty), mask=vmask)


_CONFIGS = {
    "cuda": [config(4, 1, BV=32), config(4, 1, BV=16), config(8, 1, BV=64), config(4, 1, BV=8), config(2, 1, BV=8)],
    "metax": [config(4, 1, BV=32), config(4, 1, BV=16), config(8, 1, BV=64)],
}
# tuning runs the kernel several times: an in-place state must be put back after each run
_TUNED = autotuned(_gla_recurrent_kernel, _CONFIGS, key=["H", "HKV", "K", "V"], restore_value=["ns_ptr"])


def gla_recurrent(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, state: torch.Tensor,
                  scale: float | None = None, *, inplace: bool = False,
                  flavour: Flavour = "cuda") -> tuple[torch.Tensor, torch.Tensor]:
    """q [B,H,K], k and g [B,Hkv,K], v [B,Hkv,V], state f32 [B,Hkv,K,V] -> (o [B,H,V] in v's dtype,
    new state). `inplace` overwrites `state` (a decode loop's usual choice: no second buffer)."""
    bsz, h, dk = q.shape
    hkv, dv = v.shape[1], v.shape[2]
    assert h % hkv == 0 and state.shape == (bsz, hkv, dk, dv) and state.dtype == torch.float32, "shapes"
    assert dk & (dk - 1) == 0 and dv & (dv - 1) == 0, "K, V: powers of two"
    q, k, v, g = (x.contiguous() for x in (q, k, v, g))
    assert state.is_contiguous() or not inplace, "an in-place state must be contiguous"
    src = state.contiguous()
    new = src if inplace else torch.empty_like(src)
    o = torch.empty((bsz, h, dv), dtype=v.dtype, device=q.device)
    grid = lambda meta: (cdiv(dv, meta["BV"]), bsz * hkv)
    _TUNED[flavour][grid](q, k, v, g, src, o, new, h, hkv, dk ** -0.5 if scale is None else scale,
                          K=dk, V=dv, GQ=h // hkv, **pdl.options(flavour, q))
    return o, new
