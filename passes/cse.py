"""Common-subexpression elimination."""

from __future__ import annotations

from dataclasses import dataclass

from sbcompile.ir import Module, Op

from .base import Pass, PassContext
from .registry import register_pass


@register_pass
@dataclass(frozen=True)
class CommonSubexpressionElimination(Pass):
    """Merges ops that compute the same thing: same op, same operands, same parameters and
    attributes. The IR has no side effects, so the later copy's readers read the earlier one.
    (SpikingBrain encodes one normed activation once per projection; this leaves one encoder.)

    Requires: a verified module. Guarantees: no two ops have equal keys; value names of the
    kept ops are unchanged."""

    name = "cse"

    def run(self, module: Module, ctx: PassContext) -> bool:
        seen: dict[tuple, Op] = {}
        keep: list[Op] = []
        for op in module.ops:
            key = (op.name, tuple(id(v) for v in op.operands), op.params,
                   tuple(sorted(op.attrs.items())), tuple(r.type for r in op.results))
            first = seen.get(key)
            if first is None:
                seen[key] = op
                keep.append(op)
                continue
            for old, new in zip(op.results, first.results):
                module.replace_uses(old, new)
        changed = len(keep) != len(module.ops)
        module.ops = keep
        return changed
