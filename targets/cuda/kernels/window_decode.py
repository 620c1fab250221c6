"""One decode step of sliding-window attention against a ring of the last `window` keys and values.

Decode is bandwidth work: each kv head's ring (window x head_dim, keys and values) is read once for
all the query heads that share it (GQA), split over many programs so every SM streams a slice
(flash-decoding). The step's own key and value are written into ring slot pos mod window by the
program that owns that slot, which reads them from the inputs, not the ring, so no program reads a
slot another one writes. Slots past the position (a ring not yet full) are masked. A second small
kernel merges the slices' partial softmaxes. `pos` is a device tensor, so a CUDA graph replays it."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import pdl
from .launch import Launcher
from .tiles import cdiv, pow2
from .tuning import Flavour

LOG2E = 1.4426950408889634
SLICE = 128  # ring slots per program
BLOCK_N = 64


@triton.jit
def _window_decode_split(q_ptr, kn_ptr, vn_ptr, kr_ptr, vr_ptr, pos_ptr, m_ptr, l_ptr, acc_ptr, W, qk_scale,
                         REP: tl.constexpr, REP_PAD: tl.constexpr, D: tl.constexpr,
                         SLICE: tl.constexpr, BLOCK_N: tl.constexpr, PRECISION: tl.constexpr, PDL: tl.constexpr):
    pdl.entry(PDL)
    hk = tl.program_id(0)
    sp = tl.program_id(1)
    splits = tl.num_programs(1)
    pos = tl.load(pos_ptr)
    slot = pos % W
    rr = tl.arange(0, REP_PAD)
    rd = tl.arange(0, D)
    rn = tl.arange(0, BLOCK_N)
    rows = hk * REP + rr
    q = tl.load(q_ptr + rows[:, None] * D + rd[None, :], mask=(rr < REP)[:, None], other=0.0)
    k_new = tl.load(kn_ptr + hk * D + rd)
    v_new = tl.load(vn_ptr + hk * D + rd)
    ring = hk.to(tl.int64) * W * D
    m_i = tl.full([REP_PAD], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([REP_PAD], dtype=tl.float32)
    acc = tl.zeros([REP_PAD, D], dtype=tl.float32)
    for n0 in range(sp * SLICE, sp * SLICE + SLICE, BLOCK_N):
        cols = n0 + rn
        inside = cols < W
        at = ring + cols.to(tl.int64)[:, None] * D + rd[None, :]
        own = (cols == slot)[:, None]
        k = tl.where(own, k_new[None, :], tl.load(kr_ptr + at, mask=inside[:, None], other=0.0))
        v = tl.where(own, v_new[None, :], tl.load(vr_ptr + at, mask=inside[:, None], other=0.0))
        s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale
        s = tl.where((inside & (cols <= pos))[None, :], s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)  # a slice with no valid slot yet
        p = tl.exp2(s - m_safe[:, None])
        alpha = tl.exp2(m_i - m_safe)
        l_i = l_i * alpha + tl.sum(p, axis=1)
        acc = tl.dot(p.to(v.dtype), v, acc * alpha[:, None], input_precision=PRECISION)
        m_i = m_new
    part = (hk * splits + sp) * REP_PAD + rr
    tl.store(m_ptr + part, m_i)
    tl.store(l_ptr + part, l_i)
    tl.store(acc_ptr + part[:, None] * D + rd[None, :], acc)
    if (slot >= sp * SLICE) & (slot < sp * SLICE + SLICE):
        tl.store(kr_ptr + ring + slot * D + rd, k_new)
        tl.store(vr_ptr + ring + slot * D + rd, v_new)


@triton.jit
def _window_decode_merge(m_ptr, l_ptr, acc_ptr, o_ptr, SPLITS: tl.constexpr, REP: tl.constexpr,
                         REP_PAD: tl.constexpr, D: tl.constexpr, PDL: tl.constexpr):
    pdl.entry(PDL)
    h = tl.program_id(0)
    hk = h // REP
    rs = tl.arange(0, SPLITS)
    rd = tl.arange(0, D)
    part = (hk * SPLITS + rs) * REP_PAD + h % REP
    m = tl.load(m_ptr + part)
    top = tl.max(m, axis=0)
    w = tl.exp2(m - top)  # slot 0 is always valid, so top is finite
    l = tl.sum(tl.load(l_ptr + part) * w, axis=0)
    acc = tl.sum(tl.load(acc_ptr + part[:, None] * D + rd[None, :]) * w[:, None], axis=0)
    tl.store(o_ptr + h * D + rd, (acc / l).to(o_ptr.dtype.element_ty))


_SPLIT, _MERGE = Launcher(_window_decode_split), Launcher(_window_decode_merge)

def window_decode(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, k_ring: torch.Tensor, v_ring: torch.Tensor,
                  pos: torch.Tensor, scale: float | None = None, *, flavour: Flavour = "cuda") -> torch.Tensor:
    """q [H, D], k and v [Hkv, D] (this step's), rings [Hkv, W, D] (updated in place at pos mod W),
    pos int64 [1] on the device -> o [H, D]: softmax over the ring's slots j <= pos. Plain Triton with a
    fixed launch shape, the same for both flavours (the cuda flavour adds PDL, pdl.py); float32 rings
    multiply in full float32 (no tf32)."""
    h, d = q.shape
    hkv, w, _ = k_ring.shape
    assert h % hkv == 0 and k.shape == (hkv, d) and v_ring.shape == k_ring.shape, "GQA shapes"
    assert k_ring.is_contiguous() and v_ring.is_contiguous(), "rings are written in place"
    rep = h // hkv
    rep_pad = max(16, pow2(rep))  # the smallest tl.dot tile
    splits = pow2(cdiv(w, SLICE))
    m = torch.empty((hkv * splits * rep_pad,), dtype=torch.float32, device=q.device)
    l = torch.empty_like(m)
    acc = torch.empty((hkv * splits * rep_pad, d), dtype=torch.float32, device=q.device)
    sm = (d ** -0.5 if scale is None else scale) * LOG2E
    q, k, v = (x.to(k_ring.dtype).contiguous() for x in (q, k, v))
    launch = pdl.options(flavour, q)
    _SPLIT[(hkv, splits)](q, k, v, k_ring, v_ring, pos, m, l, acc, w, sm, REP=rep, REP_PAD=rep_pad,
                          D=d, SLICE=SLICE, BLOCK_N=BLOCK_N, num_warps=4,
                                        PRECISION="ieee" if k_ring.dtype == torch.float32 else "tf32", **launch)
    o = torch.empty((h, d), dtype=k_ring.dtype, device=q.device)
    _MERGE[(h,)](m, l, acc, o, SPLITS=splits, REP=rep, REP_PAD=rep_pad, D=d, num_warps=4, **launch)
    return o
