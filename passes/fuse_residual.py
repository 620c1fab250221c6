"""Marks a residual add fused into the epilogue of the projection that feeds it."""

from __future__ import annotations

from dataclasses import dataclass

from sbcompile.ir import Module
from sbcompile.ir.dialects.nn import Add
from sbcompile.ir.dialects.syn import Dense

from .base import Pass, PassContext
from .fuse_projections import ATTR as GEMM_GROUP
from .registry import register_pass

RESIDUAL = "fuse.residual"  # on the projection: the value its epilogue adds
EPILOGUE_OF = "fuse.epilogue_of"  # on the add: the projection that computes it


@register_pass
@dataclass(frozen=True)
class FuseResidual(Pass):
    """Fuses `nn.add(r, dense(x))` (either order) into the dense's epilogue: the dense gets
    `fuse.residual` (r's name), the add `fuse.epilogue_of` (the dense's result), so a target adds r
    while it writes the projection and never stores the projection alone.

    Requires: a verified module. Guarantees: only a quantized syn.dense that is not part of a fused
    GEMM group (fuse-projections), read by this add alone and not a module output, whose other
    operand has the same type and is defined before the dense (so it exists when the dense runs),
    is marked; the IR's values are unchanged."""

    name = "fuse-residual"

    def run(self, module: Module, ctx: PassContext) -> bool:
        users = module.users()
        made = {op.result.name: i for i, op in enumerate(module.ops)}
        outputs = {v.name for v in module.outputs}
        changed = False
        for op in module.ops:
            if not op.isa(Add) or op.operands[0].name == op.operands[1].name:
                continue
            for side in (1, 0):
                proj, res = op.operands[side], op.operands[1 - side]
                dense = module.ops[made[proj.name]] if proj.name in made else None
                if (dense is None or not dense.isa(Dense) or dense.params.scale is None or GEMM_GROUP in dense.attrs
                        or proj.name in outputs or len(users.get(proj.name, [])) != 1 or res.type != proj.type
                        or made.get(res.name, -1) > made[proj.name]):
                    continue
                if dense.attrs.get(RESIDUAL) != res.name or op.attrs.get(EPILOGUE_OF) != proj.name:
                    dense.attrs[RESIDUAL] = res.name
                    op.attrs[EPILOGUE_OF] = proj.name
                    changed = True
                break
        return changed
