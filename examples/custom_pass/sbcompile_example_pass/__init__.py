"""An example plugin pass: record how many ops read each op's result."""

from __future__ import annotations

from dataclasses import dataclass

from sbcompile.ir import Module
from sbcompile.passes import Pass, PassContext, option


@dataclass(frozen=True)
class AnnotateFanout(Pass):
    """Adds `example.fanout = N` to every op: the number of ops that read its result.

    Requires: a verified module. Guarantees: only attributes change; ops and values do not.
    With `min` > 0, only ops read at least that many times are annotated."""

    name = "annotate-fanout"
    min: int = option(0, "annotate only ops read at least this many times")

    def run(self, module: Module, ctx: PassContext) -> bool:
        users = module.users()
        changed = False
        for op in module.ops:
            n = sum(len(users[r.name]) for r in op.results)
            if n >= self.min and op.attrs.get("example.fanout") != n:
                op.attrs["example.fanout"] = n
                changed = True
        return changed
