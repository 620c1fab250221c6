"""The GPU's number formats (NVIDIA CUDA, and MetaX running the same Triton): int8 weight codes
with one float32 scale per output channel, so that spike counts (int8) times codes accumulate
exactly in int32 on the tensor cores and the epilogue is one float multiply per output."""

from __future__ import annotations

from pydantic import BaseModel

from sbcompile.formats import NumberFormats

CUDA_FORMATS = NumberFormats(weight_bits=8, weight_scale="float", accumulator_bits=32, payload_bits=8,
                             threshold_mantissa_bits=24)


class CudaMachine(BaseModel):
    """What passes need to know of a GPU target."""

    formats: NumberFormats = CUDA_FORMATS
