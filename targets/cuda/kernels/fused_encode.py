"""Spike encoders fused with their producer (fuse-encode): RMSNorm then encode, or SiLU(a)·b then
encode, one program per token row. The producer's output is rounded to the activation dtype exactly
as the unfused kernel would store it, then thresholded and counted as spike_encode_int8 does (float64
|x| sum, float32 V_th, exact rounding): the same counts, without writing and re-reading the row."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import pdl
from .launch import Launcher
from .silu_mul import silu_times
from .spike_encode import _params, _round_quotient_int8, _threshold
from .tiles import cdiv, pow2
from .tuning import Flavour, autotuned, config

MAX_NORM_ROW = 16384  # the normalised row is held in registers
FEW_ROWS = 4  # silu_mul_encode spreads each row over programs up to this many rows
CHUNK = 1024


@triton.jit
def _counts(y, ok, vth, s_ptr, at):
    """Store int8 counts of y (activation-dtype values) at `at`; -> saturated entries."""
    c = _round_quotient_int8(y, vth)
    tl.store(s_ptr + at, tl.minimum(tl.maximum(c, -127.0), 127.0).to(tl.int8), mask=ok)
    return tl.sum(tl.sum(((tl.abs(c) > 127.0) & ok).to(tl.int32), axis=1), axis=0)


@triton.jit
def _rmsnorm_encode_kernel(x_ptr, w_ptr, s_ptr, vth_ptr, sat_ptr, par_ptr, GS, NG, eps,
                           SHARED_W: tl.constexpr, G_PAD: tl.constexpr, GS_PAD: tl.constexpr, PDL: tl.constexpr):
    pdl.entry(PDL)
    row = tl.program_id(0).to(tl.int64)
    g = tl.arange(0, G_PAD)
    c = tl.arange(0, GS_PAD)
    ok = (g < NG)[:, None] & (c < GS)[None, :]
    at = row * NG * GS + g[:, None] * GS + c[None, :]
    x = tl.load(x_ptr + at, mask=ok, other=0.0).to(tl.float32)
    rstd = 1.0 / tl.sqrt(tl.sum(x * x, axis=1) / GS + eps)
    if SHARED_W:
        w = tl.load(w_ptr + c, mask=c < GS, other=0.0).to(tl.float32)[None, :]
    else:
        w = tl.load(w_ptr + g[:, None] * GS + c[None, :], mask=ok, other=0.0).to(tl.float32)
    y = (x * rstd[:, None] * w).to(x_ptr.dtype.element_ty)
    total = tl.sum(tl.sum(tl.abs(y.to(tl.float64)), axis=1), axis=0)
    vth = _threshold(total, NG * GS, par_ptr)
    tl.store(vth_ptr + row, vth)
    tl.store(sat_ptr + row, _counts(y, ok, vth, s_ptr, at))


@triton.jit
def _silu_mul_encode_kernel(a_ptr, b_ptr, s_ptr, vth_ptr, sat_ptr, par_ptr, M, N, stride_a, stride_b,
                            BLOCK: tl.constexpr, PROGRAMS: tl.constexpr, MANY: tl.constexpr, PDL: tl.constexpr):
    """Rows in a grid-stride loop: with fewer programs than rows, the rows in flight (each read twice,
    18,944 x 2 bf16 in the 7B) stay within L2 for the second pass. PROGRAMS and MANY (M >= 1024)
    only steer the grid and the autotuner's key."""
    pdl.entry(PDL)
    cols = tl.arange(0, BLOCK)
    for r in range(tl.program_id(0), M, tl.num_programs(0)):
        row = tl.cast(r, tl.int64)
        acc = tl.zeros([1, BLOCK], dtype=tl.float64)
        for start in range(0, N, BLOCK):  # pass 1: the row's |h| sum; h is recomputed in pass 2, not stored
            c = (start + cols)[None, :]
            h = silu_times(tl.load(a_ptr + row * stride_a + c, mask=c < N, other=0.0),
                           tl.load(b_ptr + row * stride_b + c, mask=c < N, other=0.0))
            acc += tl.abs(h.to(a_ptr.dtype.element_ty).to(tl.float64))
        vth = _threshold(tl.sum(tl.sum(acc, axis=1), axis=0), N, par_ptr)
        tl.store(vth_ptr + row, vth)
        nsat = tl.sum(tl.zeros([1], dtype=tl.int32), axis=0)
        for start in range(0, N, BLOCK):
            c = (start + cols)[None, :]
            h = silu_times(tl.load(a_ptr + row * stride_a + c, mask=c < N, other=0.0),
                           tl.load(b_ptr + row * stride_b + c, mask=c < N, other=0.0)).to(a_ptr.dtype.element_ty)
            nsat += _counts(h, c < N, vth, s_ptr, row * N + c)
        tl.store(sat_ptr + row, nsat)


@triton.jit
def _silu_mul_parts_kernel(a_ptr, b_ptr, h_ptr, part_ptr, sat_ptr, N, stride_a, stride_b, step, BLOCK: tl.constexpr,
                           PDL: tl.constexpr):
    """Few rows (decode): one program per row chunk writes h = SiLU(a)·b and the chunk's float64 |h| sum.
    a and b are read `step` elements apart (2: the interleaved gate/up columns of fuse-swiglu's GEMV)."""
    pdl.entry(PDL)
    row = tl.program_id(0).to(tl.int64)
    ch = tl.program_id(1)
    c = ch * BLOCK + tl.arange(0, BLOCK)
    h = silu_times(tl.load(a_ptr + row * stride_a + c * step, mask=c < N, other=0.0),
                   tl.load(b_ptr + row * stride_b + c * step, mask=c < N, other=0.0)).to(h_ptr.dtype.element_ty)
    tl.store(h_ptr + row * N + c, h, mask=c < N)
    tl.store(part_ptr + row * tl.num_programs(1) + ch, tl.sum(tl.abs(h.to(tl.float64)), axis=0))
    if ch == 0:
        tl.store(sat_ptr + row, 0)


@triton.jit
def _encode_parts_kernel(h_ptr, part_ptr, s_ptr, vth_ptr, sat_ptr, par_ptr, N, NCH: tl.constexpr,
                         BLOCK: tl.constexpr, PDL: tl.constexpr):
    """Every chunk's program sums the row's partial sums in one fixed order, so all agree on V_th."""
    pdl.entry(PDL)
    row = tl.program_id(0).to(tl.int64)
    ch = tl.program_id(1)
    r = tl.arange(0, NCH)
    total = tl.sum(tl.load(part_ptr + row * tl.num_programs(1) + r, mask=r < tl.num_programs(1), other=0.0), axis=0)
    vth = _threshold(total, N, par_ptr)
    if ch == 0:
        tl.store(vth_ptr + row, vth)
    c = (ch * BLOCK + tl.arange(0, BLOCK))[None, :]
    h = tl.load(h_ptr + row * N + c, mask=c < N, other=0.0)
    tl.atomic_add(sat_ptr + row, _counts(h, c < N, vth, s_ptr, row * N + c))


@triton.jit
def _encode_h_kernel(h_ptr, part_ptr, s_ptr, vth_ptr, sat_ptr, par_ptr, M, N, NP, NP_PAD: tl.constexpr,
                     BLOCK: tl.constexpr, PROGRAMS: tl.constexpr, MANY: tl.constexpr, PDL: tl.constexpr):
    """fuse-swiglu's encoder: the GEMM's epilogue wrote h and its partial |h| sums, so V_th needs no
    pass over h and the counts one. Rows in a grid-stride loop (PROGRAMS caps the grid, as above)."""
    pdl.entry(PDL)
    cols = tl.arange(0, BLOCK)
    p = tl.arange(0, NP_PAD)
    for r in range(tl.program_id(0), M, tl.num_programs(0)):
        row = tl.cast(r, tl.int64)
        vth = _threshold(tl.sum(tl.load(part_ptr + row * NP + p, mask=p < NP, other=0.0), axis=0), N, par_ptr)
        tl.store(vth_ptr + row, vth)
        nsat = tl.sum(tl.zeros([1], dtype=tl.int32), axis=0)
        for start in range(0, N, BLOCK):
            c = (start + cols)[None, :]
            nsat += _counts(tl.load(h_ptr + row * N + c, mask=c < N, other=0.0), c < N, vth, s_ptr, row * N + c)
        tl.store(sat_ptr + row, nsat)


# one config: the warp count sets the float32 sum-of-squares order, so a timing-picked config could round
# V_th (and counts) differently from one process to the next; 4 warps was also the fastest on the H200
_NORM_CONFIGS = {"cuda": [config(4, 1)], "metax": [config(4, 1)]}
# PROGRAMS: the grid's cap (0: one program per row); a few programs per SM keep the rows in flight in L2
_SILU_CONFIGS = {"cuda": [config(8, 1, BLOCK=4096, PROGRAMS=0), config(4, 1, BLOCK=2048, PROGRAMS=0),
                          config(16, 1, BLOCK=4096, PROGRAMS=0), config(8, 1, BLOCK=4096, PROGRAMS=264),
                          config(8, 1, BLOCK=4096, PROGRAMS=528), config(16, 1, BLOCK=4096, PROGRAMS=264),
                          config(4, 1, BLOCK=2048, PROGRAMS=528), config(8, 1, BLOCK=2048, PROGRAMS=1056)],
                 "metax": [config(8, 1, BLOCK=4096, PROGRAMS=0), config(4, 1, BLOCK=2048, PROGRAMS=0)]}
_H_CONFIGS = {"cuda": [config(4, 1, BLOCK=2048, PROGRAMS=0), config(8, 1, BLOCK=4096, PROGRAMS=0),
                       config(4, 1, BLOCK=1024, PROGRAMS=0), config(8, 1, BLOCK=2048, PROGRAMS=1056),
                       config(4, 1, BLOCK=2048, PROGRAMS=2112)],
              "metax": [config(4, 1, BLOCK=2048, PROGRAMS=0), config(8, 1, BLOCK=4096, PROGRAMS=0)]}
_NORM = autotuned(_rmsnorm_encode_kernel, _NORM_CONFIGS, key=["GS", "NG", "SHARED_W"])
_SILU = autotuned(_silu_mul_encode_kernel, _SILU_CONFIGS, key=["N", "MANY"])
_H = autotuned(_encode_h_kernel, _H_CONFIGS, key=["N", "MANY"])
_SILU_PARTS, _ENCODE_PARTS = Launcher(_silu_mul_parts_kernel), Launcher(_encode_parts_kernel)


def _outputs(m: int, n: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    return (torch.empty((m, n), dtype=torch.int8, device=device), torch.empty((m, 1), dtype=torch.float32, device=device),
            torch.empty((m,), dtype=torch.int32, device=device))


def norm_fits(width: int) -> bool:
    """Whether rmsnorm_encode holds a row of this many channels."""
    return width <= MAX_NORM_ROW


def rmsnorm_encode(x: torch.Tensor, weight: torch.Tensor, eps: float, group: int | None, k: float,
                   vth_min: float, vth_max: float, *, flavour: Flavour = "cuda") -> tuple[torch.Tensor, ...]:
    """spike_encode_int8(rmsnorm(x, weight, eps, group), k, ...) for x [T, D]: (int8 counts [T, D],
    float32 V_th [T, 1], saturated entries per row [T])."""
    m, d = x.shape
    gs = group or d
    assert d % gs == 0 and weight.numel() in (gs, d) and norm_fits(d), "weight [group] or [D]; row too wide"
    x = x.contiguous()
    s, vth, sat = _outputs(m, d, x.device)
    _NORM[flavour][(m,)](x, weight.contiguous(), s, vth, sat, _params(k, vth_min, vth_max, x.device), gs, d // gs, eps,
                         SHARED_W=weight.numel() == gs, G_PAD=pow2(d // gs),
                         GS_PAD=pow2(gs), **pdl.options(flavour, x))
    return s, vth, sat


def silu_mul_encode(a: torch.Tensor, b: torch.Tensor, k: float, vth_min: float, vth_max: float,
                    *, flavour: Flavour = "cuda") -> tuple[torch.Tensor, ...]:
    """spike_encode_int8(SiLU(a) * b, k, ...) for a, b [T, N] (strided rows; up to FEW_ROWS rows, also a
    column stride, as the interleaved gate/up columns of fuse-swiglu's GEMV): (int8 counts
    [T, N], float32 V_th [T, 1], saturated entries per row [T]).

    Up to FEW_ROWS rows (decode), one program per row would stream a whole row alone: there the row
    is cut into chunks over many programs, in two kernels (h and partial sums, then counts). The
    partial sums are added in another order than the one-program kernel's, so V_th can differ in
    its last float32 bit between the two forms, never within one."""
    assert a.shape == b.shape and a.dim() == 2, "a, b: [T, N]"
    m, n = a.shape
    if m > FEW_ROWS or a.stride(-1) != b.stride(-1):
        a, b = (t if t.stride(-1) == 1 else t.contiguous() for t in (a, b))
    s, vth, sat = _outputs(m, n, a.device)
    par = _params(k, vth_min, vth_max, a.device)
    launch = pdl.options(flavour, a)
    if m > FEW_ROWS:
        grid = lambda meta: (min(m, meta["PROGRAMS"]) if meta["PROGRAMS"] else m,)
        _SILU[flavour][grid](a, b, s, vth, sat, par, m, n, a.stride(0), b.stride(0), MANY=m >= 1024, **launch)
        return s, vth, sat
    chunks = cdiv(n, CHUNK)
    h = torch.empty((m, n), dtype=a.dtype, device=a.device)
    parts = torch.empty((m, chunks), dtype=torch.float64, device=a.device)
    _SILU_PARTS[(m, chunks)](a, b, h, parts, sat, n, a.stride(0), b.stride(0), a.stride(1), BLOCK=CHUNK, num_warps=4,
                             **launch)
    _ENCODE_PARTS[(m, chunks)](h, parts, s, vth, sat, par, n, NCH=pow2(chunks), BLOCK=CHUNK,
                               num_warps=4, **launch)
    return s, vth, sat


def encode_parts(h: torch.Tensor, parts: torch.Tensor, k: float, vth_min: float, vth_max: float,
                 *, flavour: Flavour = "cuda") -> tuple[torch.Tensor, ...]:
    """spike_encode_int8(h, k, ...) for h [T, N] whose float64 |h| sums over column blocks are `parts`
    [T, P] (spike_gemm_swiglu's outputs): (int8 counts [T, N], float32 V_th [T, 1], saturated entries
    per row [T]). V_th is silu_mul_encode's up to the float64 summation order (see swiglu.py)."""
    assert h.dim() == 2 and parts.shape[0] == h.shape[0] and h.is_contiguous() and parts.is_contiguous(), \
        "h [T, N] and parts [T, P], contiguous"
    m, n = h.shape
    s, vth, sat = _outputs(m, n, h.device)
    grid = lambda meta: (min(m, meta["PROGRAMS"]) if meta["PROGRAMS"] else m,)
    _H[flavour][grid](h, parts, s, vth, sat, _params(k, vth_min, vth_max, h.device), m, n, parts.shape[1],
                      NP_PAD=pow2(parts.shape[1]), MANY=m >= 1024, **pdl.options(flavour, h))
    return s, vth, sat
