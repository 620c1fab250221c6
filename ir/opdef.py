"""Op definitions: one class per op holds everything the op means — its parameters (a pydantic
model), its operands, its type rule, its extra checks and its reference semantics — so that one
place answers "what does `seq.gla` do?". The registry maps `dialect.name` to the definition."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

from .types import Type


WEIGHT_FIELDS = ("weight", "bias", "scale", "residual", "static", "sink_k", "sink_v")


class Params(BaseModel):
    """Base of every op's parameters: strict types, immutable, no unknown keys."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


class NoParams(Params):
    pass


class TypeRuleError(Exception):
    """Raised by a type rule; the verifier adds the op and its location."""


class EvalContext(Protocol):
    """What an op's reference semantics may use: the weights, its own recurrent state slot, the
    module's inputs, the position of the first token of this call (for decoding), and an activity
    recorder. ir/interpreter.py's `OpContext` is the one implementation."""

    position: int

    def weight(self, name: str) -> np.ndarray: ...

    def state(self) -> dict[str, Any]: ...

    def input(self, name: str) -> Any: ...

    def record(self, key: str, value: Any) -> None: ...


class OpDef:
    """Subclass per op; register with `@register`."""

    name: ClassVar[str]
    params: ClassVar[type[Params]] = NoParams
    operands: ClassVar[tuple[str, ...]] = ()
    results: ClassVar[int] = 1

    def result_types(self, p: Any, operand_types: list[Type]) -> list[Type] | None:
        """The type rule. None means: take the types written in the text (sources such as inputs)."""
        raise NotImplementedError

    def weight_shapes(self, p: Any, operand_types: list[Type]) -> dict[str, tuple[int | str, ...]]:
        """Expected shape of each weight the op names (param field -> shape), checked when known."""
        return {}

    def evaluate(self, p: Any, args: list[Any], ctx: EvalContext) -> list[Any]:
        """Reference semantics over numpy values (the interpreter calls this)."""
        raise NotImplementedError(f"{self.name} has no reference semantics yet")

    @classmethod
    def weight_fields(cls) -> tuple[str, ...]:
        """Parameter fields that name entries of the weight store."""
        return tuple(f for f in cls.params.model_fields if f in WEIGHT_FIELDS)



REGISTRY: dict[str, OpDef] = {}


def register(cls: type[OpDef]) -> type[OpDef]:
    if cls.name in REGISTRY:
        raise ValueError(f"op '{cls.name}' is defined twice")
    REGISTRY[cls.name] = cls()
    return cls


def lookup(name: str) -> OpDef | None:
    return REGISTRY.get(name)


# ---- helpers shared by the dialects' type rules ----

def expect(cond: bool, message: str) -> None:
    if not cond:
        raise TypeRuleError(message)


def expect_kind(t: Type, kind: str, what: str) -> None:
    expect(t.kind == kind, f"{what} must be a {kind}, got {t}")


def last_dim(t: Type) -> int | str:
    expect(t.rank >= 1, f"expected at least one dimension, got {t}")
    return t.shape[-1]
