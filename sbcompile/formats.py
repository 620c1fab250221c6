"""Number formats a machine computes in. Passes read them from the target's machine
description (`ctx.machine.formats`), never from constants of their own, so that quantizing for
`ref`, `loihi2` or `cuda` differs only in this data."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class NumberFormats(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    weight_bits: int = Field(8, description="bits of a signed weight code (symmetric: codes in ±(2^(bits-1) - 1))")
    weight_scale: Literal["float", "pow2"] = Field(
        "float", description="per-group weight scale: any float32, or a power of two (mantissa-exponent hardware)")
    weight_exp_range: tuple[int, int] = Field((-8, 7), description="allowed exponents when weight_scale is pow2")
    accumulator_bits: int = Field(32, description="signed bits of a synaptic accumulator before it saturates")
    payload_bits: int = Field(32, description="signed bits of a graded spike (a spike count) on the wire")
    threshold_mantissa_bits: int = Field(24, description="unsigned bits of a threshold mantissa")
    threshold_exp_range: tuple[int, int] = Field((-126, 127), description="threshold exponent range (float32 for float machines)")
