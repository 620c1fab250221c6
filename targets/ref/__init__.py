"""`ref`: the reference interpreter, whose results define what every op means."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from sbcompile.formats import NumberFormats

from sbcompile.ir import Module, SbirError

from ..base import Target
from ..registry import register_target
from sbcompile.ir.activity import total
from sbcompile.ir.interpreter import Interpreter


class RefSession:
    def __init__(self, module: Module) -> None:
        inputs = module.inputs
        if len(inputs) != 1 or len(module.outputs) != 1:
            raise SbirError(f"module @{module.name}: `run` drives modules with one input and one output "
                            f"(this one has {len(inputs)} inputs, {len(module.outputs)} outputs)")
        self.input_name = inputs[0].params.name
        self.interp = Interpreter(module)

    def __call__(self, tokens: np.ndarray) -> np.ndarray:
        (out,) = self.interp(**{self.input_name: tokens})
        return out.decode() if hasattr(out, "decode") else out

    def activity(self) -> dict[str, Any]:
        per_op = {name: s.summary() for name, s in self.interp.activity.items()}
        return {"total": total(self.interp.activity), "ops": per_op}


class RefMachine(BaseModel):
    """The interpreter computes in float32 with exact integer accumulation: 8-bit codes with
    float32 scales by default."""

    formats: NumberFormats = NumberFormats()


@register_target
class RefTarget(Target):
    name = "ref"
    summary = "numpy reference interpreter: the semantics every other target is held to"

    def machine(self) -> RefMachine:
        return RefMachine()

    def open(self, artifact: Path, module: Module) -> RefSession:
        return RefSession(module)
