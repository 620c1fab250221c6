"""Rounding of the numbers passes write into the IR and the report."""

from __future__ import annotations


def sig(x: float, digits: int = 6) -> float:
    """Rounded to `digits` significant digits, so dumps stay short and stable."""
    return float(f"{x:.{digits}g}")
