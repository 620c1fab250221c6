"""Value types: tensors of numbers, spike trains (integer counts with a per-token scale), and
recurrent state. Dimensions are ints or symbolic names such as `seq`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .errors import SbirError

Dim = Union[int, str]

DTYPES = ("bool", "i8", "i16", "i32", "i64", "u8", "f16", "bf16", "f32", "f64")
KINDS = ("tensor", "spikes", "state")


MAX_DIM = 2**31 - 1  # the largest static dimension a type may state


class BadType(SbirError, ValueError):
    """A type built from bad parts (a frontend's input, usually): the user's error, not a crash."""


@dataclass(frozen=True)
class Type:
    """`kind<[d0, d1, ...], dtype>`.

    tensor: ordinary values. spikes: integer spike counts per channel, decoded as count x scale
    (the scale is the per-token threshold of the encoder that made them, or 1). state: what a
    recurrent op carries from one token to the next (never an edge between ops, only a report type).
    """

    kind: str
    shape: tuple[Dim, ...]
    dtype: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise BadType(f"unknown type kind '{self.kind}' (expected one of {', '.join(KINDS)})")
        if self.dtype not in DTYPES:
            raise BadType(f"unknown dtype '{self.dtype}' (expected one of {', '.join(DTYPES)})")
        for d in self.shape:
            if isinstance(d, bool) or not isinstance(d, (int, str)) or (isinstance(d, int) and not 0 <= d <= MAX_DIM):
                raise BadType(f"bad dimension {d!r} in a type: expected an integer in 0..{MAX_DIM} or a name")

    @property
    def rank(self) -> int:
        return len(self.shape)

    def with_shape(self, shape: tuple[Dim, ...]) -> "Type":
        return Type(self.kind, tuple(shape), self.dtype)

    def __str__(self) -> str:
        return f"{self.kind}<[{', '.join(str(d) for d in self.shape)}], {self.dtype}>"


def tensor(shape: tuple[Dim, ...] | list[Dim], dtype: str = "f32") -> Type:
    return Type("tensor", tuple(shape), dtype)


def spikes(shape: tuple[Dim, ...] | list[Dim], dtype: str = "i32") -> Type:
    return Type("spikes", tuple(shape), dtype)


def is_float(dtype: str) -> bool:
    return dtype.startswith("f") or dtype == "bf16"


def is_int(dtype: str) -> bool:
    return dtype[0] in "iu"
