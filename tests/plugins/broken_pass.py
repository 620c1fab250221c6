"""Test plugins: a pass that breaks the module, and one that crashes."""

from __future__ import annotations

from dataclasses import dataclass

from sbcompile.ir import Module
from sbcompile.passes import Pass, PassContext, register_pass


@register_pass
@dataclass(frozen=True)
class DropFirstUsedOp(Pass):
    """Deletes the first op that something reads, leaving its readers dangling (a bug on purpose)."""

    name = "break-uses"

    def run(self, module: Module, ctx: PassContext) -> bool:
        users = module.users()
        for op in module.ops:
            if op.name != "io.input" and any(users[r.name] for r in op.results):
                module.ops.remove(op)
                return True
        return False


@register_pass
@dataclass(frozen=True)
class Crash(Pass):
    """Raises an ordinary Python exception (a bug on purpose)."""

    name = "crash"

    def run(self, module: Module, ctx: PassContext) -> bool:
        raise ZeroDivisionError("division by zero")
