"""Canonicalization: small, exact local rewrites applied until nothing changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sbcompile.ir import Module, Op, Value
from sbcompile.ir.dialects.nn import ReLU, Scale

from .base import Pass, PassContext
from .registry import register_pass

# A pattern looks at one op and returns the value that can replace its result, or None.
Pattern = Callable[[Op], "Value | None"]


def scale_by_one(op: Op) -> Value | None:
    """nn.scale{factor=1.0}(x) -> x."""
    return op.operands[0] if op.isa(Scale) and op.params.factor == 1.0 else None


def idempotent_twice(op: Op) -> Value | None:
    """relu(relu(x)) -> relu(x): applying an idempotent op again changes nothing."""
    if op.isa(ReLU):
        src = op.operands[0].owner
        if src is not None and src.name == op.name:
            return op.operands[0]
    return None


PATTERNS: tuple[Pattern, ...] = (scale_by_one, idempotent_twice)


@register_pass
@dataclass(frozen=True)
class Canonicalize(Pass):
    """Folds ops that are identities (scale by 1, relu of relu) into their operand; every
    rewrite is exact (bit-for-bit the same results). Run `dce` after it to drop what fed them.

    Requires: a verified module. Guarantees: no op matches a canonicalization pattern."""

    name = "canonicalize"

    def run(self, module: Module, ctx: PassContext) -> bool:
        changed = False
        for op in list(module.ops):
            for pattern in PATTERNS:
                repl = pattern(op)
                if repl is not None and repl.type == op.result.type:
                    module.replace_uses(op.result, repl)
                    module.ops.remove(op)
                    changed = True
                    break
        return changed
