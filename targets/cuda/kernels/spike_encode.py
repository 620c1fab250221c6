"""Fused per-token spike encoder: V_th = mean|x|/k and s = round(x/V_th) in one pass over a row.

Numerics are pinned by the project (sbcompile.models.spiking, ir/dialects/spike.py) and reproduced
bit for bit: the |x| sum is taken in float64, V_th = float32(clamp(sum/N/k, vth_min, vth_max)),
s = round_half_to_even(float64(x) / float64(V_th)). k and the clamp bounds travel as a float64
tensor, because a Python float kernel argument would be rounded to float32 on the way in.
Rounding is done with floor and a parity test (no libdevice rint), so MetaX builds need nothing
vendor-specific. Only the float64 summation order differs from numpy's pairwise order: V_th can
differ only when the float64 mean sits within a few float64 ulps of a float32 rounding midpoint."""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl

from . import pdl
from .tiles import pow2
from .tuning import Flavour, autotuned, config, interpreting

MAX_BLOCK = 4096


@triton.jit
def _odd(c):
    """Whether the integer-valued float c is odd (c / 2 has a fraction; exact in binary)."""
    return (c * 0.5 - tl.floor(c * 0.5)) != 0.0


@triton.jit
def _round_half_even(r):
    """Round float64 to the nearest integer, ties to even, exactly (r - floor(r) is exact)."""
    f = tl.floor(r)
    d = r - f
    up = (d > 0.5) | ((d == 0.5) & _odd(f))
    return tl.where(up, f + 1.0, f)


# The remainder below needs a fused multiply-add (one rounding). Triton's CPU interpreter computes
# tl.fma as a product then a sum, so there it is computed in float64 (exact) and rounded once.
_FUSED_FMA: tl.constexpr = tl.constexpr(not interpreting())


@triton.jit
def _remainder(x, c, vth):
    """x - c * V_th rounded once to float32 (c: an integer, |c| <= 128)."""
    if _FUSED_FMA:
        return tl.fma(-c, vth, x)
    else:
        return (x.to(tl.float64) - c.to(tl.float64) * vth.to(tl.float64)).to(tl.float32)  # 9 x 24 bits: exact


@triton.jit
def _round_quotient_int8(x, vth):
    """round_half_even(x / V_th) clamped to [-129, 129], exactly, in float32. A candidate c from the
    float32 quotient is within one of the answer; the remainder r = x - c * V_th then moves it by one
    where |r| > V_th / 2, and a tie (|r| = V_th / 2) goes to the even neighbour. With V_th in
    [2^e, 2^(e+1)), r is a multiple of 2^(e-24), so it is exact while |r| < 2^e, and beyond that it is
    clearly above V_th / 2: every comparison is the exact one (V_th >= vth_min = 1e-5: no subnormals).
    Beyond 128 the count only has to stay beyond 127, and it does."""
    x = x.to(tl.float32)
    c = tl.floor(tl.minimum(tl.maximum(x * (1.0 / vth), -128.0), 128.0) + 0.5)
    r = _remainder(x, c, vth)
    half = 0.5 * vth
    odd = _odd(c)
    up = (r > half) | ((r == half) & odd)
    down = (r < -half) | ((r == -half) & odd)
    return tl.where(up, c + 1.0, tl.where(down, c - 1.0, c))


@triton.jit
def _threshold(total, n, par_ptr):
    """V_th = float32(clamp(total / n / k, vth_min, vth_max)) from a row's float64 |x| sum; the
    encoder's parameters (k, vth_min, vth_max) are the float64 tensor `_params` makes."""
    return tl.minimum(tl.maximum(total / n / tl.load(par_ptr), tl.load(par_ptr + 1)), tl.load(par_ptr + 2)).to(tl.float32)


@triton.jit
def _spike_encode_kernel(x_ptr, s_ptr, vth_ptr, sat_ptr, par_ptr, N, stride_x, stride_s,
                         BLOCK: tl.constexpr, INT8: tl.constexpr, PDL: tl.constexpr):
    pdl.entry(PDL)
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK], dtype=tl.float64)
    for start in range(0, N, BLOCK):
        c = start + cols
        x = tl.load(x_ptr + row * stride_x + c, mask=c < N, other=0.0)
        acc += tl.abs(x.to(tl.float64))
    vth = _threshold(tl.sum(acc, axis=0), N, par_ptr)
    tl.store(vth_ptr + row, vth)
    nsat = tl.zeros([BLOCK], dtype=tl.int32)
    for start in range(0, N, BLOCK):
        c = start + cols
        x = tl.load(x_ptr + row * stride_x + c, mask=c < N, other=0.0)
        if INT8:
            s = _round_quotient_int8(x, vth)
            over = tl.abs(s) > 127.0
            nsat += (over & (c < N)).to(tl.int32)
            s = tl.minimum(tl.maximum(s, -127.0), 127.0)
            tl.store(s_ptr + row * stride_s + c, s.to(tl.int8), mask=c < N)
        else:
            s = _round_half_even(x.to(tl.float64) / vth.to(tl.float64))
            tl.store(s_ptr + row * stride_s + c, s.to(tl.int32), mask=c < N)
    if INT8:
        tl.store(sat_ptr + row, tl.sum(nsat, axis=0))


_CONFIGS = {
    "cuda": [config(8, 1), config(4, 1), config(16, 1)],
    "metax": [config(8, 1), config(4, 1), config(16, 1)],
}
_TUNED = autotuned(_spike_encode_kernel, _CONFIGS, key=["N", "INT8"])


@functools.lru_cache(maxsize=64)
def _params(k: float, vth_min: float, vth_max: float, device: torch.device) -> torch.Tensor:
    """k and the bounds as a float64 device tensor, made once: no host-to-device copy per call, so a
    CUDA graph can capture the encoder."""
    return torch.tensor([k, vth_min, vth_max], dtype=torch.float64, device=device)


def _encode(x: torch.Tensor, k: float, vth_min: float, vth_max: float, int8: bool,
            flavour: Flavour) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    shape = x.shape
    x2 = x.reshape(-1, shape[-1])
    if x2.stride(-1) != 1:
        x2 = x2.contiguous()
    m, n = x2.shape
    s = torch.empty((m, n), dtype=torch.int8 if int8 else torch.int32, device=x.device)
    vth = torch.empty((m,), dtype=torch.float32, device=x.device)
    sat = torch.empty((m,), dtype=torch.int32, device=x.device)
    par = _params(k, vth_min, vth_max, x.device)
    block = min(pow2(n), MAX_BLOCK)
    _TUNED[flavour][(m,)](x2, s, vth, sat, par, n, x2.stride(0), s.stride(0), BLOCK=block, INT8=int8,
                          **pdl.options(flavour, x2))
    return s.reshape(shape), vth.reshape(*shape[:-1], 1), sat.reshape(shape[:-1])


def spike_encode(x: torch.Tensor, k: float = 3.0, *, vth_min: float = 1e-5, vth_max: float = 1e4,
                 flavour: Flavour = "cuda") -> tuple[torch.Tensor, torch.Tensor]:
    """(int32 counts shaped like x, float32 V_th shaped [..., 1]); threshold over the last dim."""
    s, vth, _ = _encode(x, k, vth_min, vth_max, False, flavour)
    return s, vth


def spike_encode_int8(x: torch.Tensor, k: float = 3.0, *, vth_min: float = 1e-5, vth_max: float = 1e4,
                      flavour: Flavour = "cuda") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(int8 counts saturated to ±127, float32 V_th [..., 1], int32 saturated entries per row).

    The GEMM input form: a row with a nonzero saturation count no longer equals the reference."""
    return _encode(x, k, vth_min, vth_max, True, flavour)
