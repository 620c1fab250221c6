"""Marks element-wise activations fused into the epilogue of the projection that feeds them."""

from __future__ import annotations

from dataclasses import dataclass

from sbcompile.ir import Module
from sbcompile.ir.dialects.nn import LogSigmoid, ReLU, Scale, Sigmoid
from sbcompile.ir.dialects.syn import Dense

from .base import Pass, PassContext
from .registry import register_pass

ACTIVATION_OF = "fuse.activation_of"  # on an activation: the projection whose epilogue computes it
UNARY = (ReLU, Sigmoid, LogSigmoid, Scale)  # SiLU is fuse-silu-mul's


@register_pass
@dataclass(frozen=True)
class FuseActivation(Pass):
    """Fuses a chain of element-wise ops (relu, sigmoid, logsigmoid, scale) that starts at a syn.dense
    into the dense's epilogue: each op of the chain gets `fuse.activation_of` (the dense's result), so
    a target applies them while it writes the projection and launches nothing for them (a decode step
    has one such chain per projection feeding a ReLU or a gate: dozens of tiny launches).

    Requires: a verified module. Guarantees: the dense and every op of the chain but the last are read
    by the next op alone and are not module outputs; the IR's values are unchanged."""

    name = "fuse-activation"

    def run(self, module: Module, ctx: PassContext) -> bool:
        users = module.users()
        outputs = {v.name for v in module.outputs}
        changed = False
        for op in module.ops:
            if not op.isa(Dense):
                continue
            at = op
            while at.results[0].name not in outputs:
                readers = users.get(at.results[0].name, [])
                if len(readers) != 1 or not readers[0].isa(*UNARY):
                    break
                at = readers[0]
                if at.attrs.get(ACTIVATION_OF) != op.results[0].name:
                    at.attrs[ACTIVATION_OF] = op.results[0].name
                    changed = True
        return changed
