"""`io`: where values enter a module (token inputs, named parameters)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..opdef import EvalContext, OpDef, Params, register
from ..types import Type


class InputParams(Params):
    name: str


@register
class Input(OpDef):
    """A module input, bound by name when the module runs; its type is the one written."""

    name = "io.input"
    params = InputParams

    def result_types(self, p: InputParams, operand_types: list[Type]) -> None:
        return None

    def evaluate(self, p: InputParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        return [ctx.input(p.name)]  # type: ignore[attr-defined]


class ParamParams(Params):
    weight: str


@register
class Param(OpDef):
    """A weight of the store as a value, for ops that take a parameter as an operand."""

    name = "io.param"
    params = ParamParams

    def result_types(self, p: ParamParams, operand_types: list[Type]) -> None:
        return None

    def evaluate(self, p: ParamParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        return [np.asarray(ctx.weight(p.weight))]
