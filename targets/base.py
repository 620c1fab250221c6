"""What a target is: a machine description (plain data the passes may read), the pipeline it
runs by default and the passes it cannot lower without (legalization adds those a pipeline
lacks), `emit` to write an artifact and its report section, and — where the machine is at
hand — `open` to run it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
from pydantic import BaseModel

from sbcompile.ir import Module, SbirError

if TYPE_CHECKING:  # only for the annotation: importing sbcompile.passes here would load every pass
    from sbcompile.passes import Pass


class NoMachine(BaseModel):
    """A target without hardware limits."""


class Target:
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    default_pipeline: ClassVar[str] = "canonicalize,cse,dce"
    required_passes: ClassVar[tuple[str, ...]] = ()  # passes it cannot lower without
    options: ClassVar[tuple[str, ...]] = ()  # command-line options this target reads

    def __init__(self, **options: Any) -> None:
        unknown = [k for k, v in options.items() if v and k not in self.options]
        if unknown:
            flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
            raise SbirError(f"{flags} does not apply to target '{self.name}'")
        self.settings = options

    def machine(self) -> BaseModel:
        return NoMachine()

    def legalize(self, passes: list[Pass]) -> tuple[list[Pass], list[str]]:
        """The pipeline with each required pass it lacks added (default options), where the
        target's default pipeline has it: before the first pass that comes after it there.
        Returns the pipeline and the names added."""
        from sbcompile.passes import parse_pipeline

        order = [p.name for p in parse_pipeline(self.default_pipeline)]
        rank = {name: i for i, name in enumerate(order)}
        out = list(passes)
        added = []
        for name in self.required_passes:
            if any(p.name == name for p in out):
                continue
            later = [i for i, p in enumerate(out) if rank.get(p.name, -1) > rank.get(name, len(order))]
            out.insert(later[0] if later else len(out), parse_pipeline(name)[0])
            added.append(name)
        return out, added

    def emit(self, module: Module, out_dir: Path, report: dict | None = None) -> list[str]:
        """Write the target's own files into `out_dir` (module.sbir, weights and the report are
        written by the driver) and add what the report should say of them; return their names."""
        return []

    @classmethod
    def report_section(cls, report: dict) -> list[str]:
        """This target's section of report.md (markdown lines) from what `emit` put in the report."""
        return []

    def open(self, artifact: Path, module: Module) -> "Session":
        """A running instance of the artifact, ready to take tokens."""
        raise SbirError(f"target '{self.name}' cannot run artifacts on this machine")


class Session(Protocol):
    """What `sbcompile run` drives: feed the next tokens, get one row of outputs per token."""

    def __call__(self, tokens: np.ndarray) -> np.ndarray: ...

    def activity(self) -> dict[str, Any]: ...
