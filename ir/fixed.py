"""Fixed-point arithmetic shared by the ops' integer forms (the `frac_bits` of spike.encode and
nn.rmsnorm): what a neuromorphic chip's cores and embedded processors compute with. Values are
24-bit integers standing for value x 2^-frac_bits; all arithmetic is exact in int64."""

from __future__ import annotations

import math

import numpy as np

FIXED_LIMIT = 2 ** 23 - 1  # 24-bit payloads and state


def fixed_input(x: np.ndarray, frac_bits: int) -> np.ndarray:
    """x as 24-bit fixed point with `frac_bits` fraction bits (int64), rounded half to even."""
    return np.clip(np.rint(np.asarray(x, np.float64) * 2.0 ** frac_bits), -FIXED_LIMIT, FIXED_LIMIT).astype(np.int64)


def fixed_value(q: np.ndarray, frac_bits: int) -> np.ndarray:
    """What fixed-point integers stand for, as float32 (exact below 2^24)."""
    return (q * 2.0 ** -frac_bits).astype(np.float32)


def divide_round_even(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b rounded half to even, for integers and b > 0."""
    q, r = np.divmod(a, b)
    return q + ((2 * r > b) | ((2 * r == b) & (q % 2 == 1)))


def isqrt(m: np.ndarray) -> np.ndarray:
    """floor(sqrt(m)) for 0 <= m < 2^52, exactly (float64 sqrt, then corrected by one)."""
    r = np.floor(np.sqrt(m.astype(np.float64))).astype(np.int64)
    r = np.where(r * r > m, r - 1, r)
    return np.where((r + 1) * (r + 1) <= m, r + 1, r)


HEADROOM_BITS = 22  # a calibrated largest |x| lands at 2^22: half the 24-bit range


def frac_bits_for(absmax: object, default: int, top: int = 20) -> int:
    """Fraction bits that fit values up to `absmax` (a calibrated range) with 2x headroom; the
    default when there is no range."""
    if isinstance(absmax, (int, float)) and absmax > 0:
        return max(0, min(top, math.floor(HEADROOM_BITS - math.log2(absmax))))
    return default
