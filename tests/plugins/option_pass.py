"""A test plugin with one option of each kind a pipeline converts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sbcompile.ir import Module
from sbcompile.passes import Pass, PassContext, option, register_pass


@register_pass
@dataclass(frozen=True)
class Options(Pass):
    """Does nothing; exists to show option parsing."""

    name = "test-options"
    count: int = option(1, "an integer")
    ratio: float = option(0.5, "a number")
    flag: bool = option(False, "a switch")
    mode: Literal["fast", "exact"] = option("exact", "one of two words")
    limit: int | None = option(None, "an integer or none")

    def run(self, module: Module, ctx: PassContext) -> bool:
        return False
