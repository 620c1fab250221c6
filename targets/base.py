"""What a target is: a machine description (plain data the passes may read), the pipeline it
runs by default and the legalization it always runs, `emit` to write an artifact, and — where
the machine is at hand — `run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from pydantic import BaseModel

from sbcompile.ir import Module, SbirError


class NoMachine(BaseModel):
    """A target without hardware limits."""


class Target:
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    default_pipeline: ClassVar[str] = "canonicalize,cse,dce"
    legalize: ClassVar[str] = ""

    def machine(self) -> BaseModel:
        return NoMachine()

    def emit(self, module: Module, out_dir: Path) -> list[str]:
        """Write the target's own files into `out_dir` (module.sbir, weights and the report are
        written by the driver); return their names."""
        return []

    def open(self, artifact: Path, module: Module) -> "Session":
        """A running instance of the artifact, ready to take tokens."""
        raise SbirError(f"target '{self.name}' cannot run artifacts on this machine")


class Session(Protocol):
    """What `sbcompile run` drives: feed the next tokens, get one row of outputs per token."""

    def __call__(self, tokens: np.ndarray) -> np.ndarray: ...

    def activity(self) -> dict[str, Any]: ...
