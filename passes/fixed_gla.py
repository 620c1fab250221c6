"""Gated linear attention to integer arithmetic, as neurons on a neuromorphic chip hold its state."""

from __future__ import annotations

from dataclasses import dataclass

from sbcompile.ir import Module, Op
from sbcompile.ir.dialects.fixed_seq import FixedGLA, FixedGLAParams
from sbcompile.ir.dialects.nn import RMSNorm
from sbcompile.ir.dialects.seq import GLA
from sbcompile.ir.fixed import frac_bits_for

from .base import Pass, PassContext, option
from .registry import register_pass


@register_pass
@dataclass(frozen=True)
class FixedGLAPass(Pass):
    """Rewrites every `seq.gla` into `seq.fixed_gla` (docs/ir.md): q, k, v and the output as
    24-bit fixed point, the per-head state as 24-bit integers, the decay from a code of the gate
    through three small exp tables, every product rounded half up. The fraction bits of q, k and
    v fit their calibrated ranges at half the 24-bit range, else `frac-bits`; the output takes
    those of the fixed-point norm that reads it (so that its integers pass straight through;
    run after `fixed-norms`), else its calibrated range, else `frac-bits`; the state fits twice
    the calibrated output range, else has `state-frac-bits`.

    Guarantees: no `seq.gla` is left; the report lists each op's widths."""

    name = "fixed-gla"
    frac_bits: int = option(12, "fraction bits of q, k, v and the output where they were not calibrated")
    state_frac_bits: int = option(12, "fraction bits of the state where the output was not calibrated")
    gate_frac_bits: int = option(16, "fraction bits of the gate's decay code (exp(-code 2^-bits))")
    decay_bits: int = option(16, "fraction bits of the decay factor the state is multiplied by")

    def run(self, module: Module, ctx: PassContext) -> bool:
        users = module.users()
        chosen: dict[str, dict[str, int]] = {}
        for i, op in enumerate(module.ops):
            if not op.isa(GLA) or op.isa(FixedGLA):
                continue
            p = FixedGLAParams(**op.params.model_dump(), **self.widths(op, users.get(op.result.name, [])))
            module.ops[i] = Op(FixedGLA.name, op.operands, op.results, p, dict(op.attrs), op.loc)
            chosen[op.result.name] = {k: getattr(p, k) for k in
                                      ("q_frac", "k_frac", "v_frac", "out_frac", "state_frac", "gate_frac", "decay_bits")}
        if chosen:
            ctx.report["fixed_gla"] = chosen
        return bool(chosen)

    def widths(self, op: Op, readers: list[Op]) -> dict[str, int]:
        def calibrated(o: Op | None) -> object:
            return None if o is None else o.attrs.get("calib.absmax")

        q, k, v = (frac_bits_for(calibrated(x.owner), self.frac_bits) for x in op.operands[:3])
        out_range = calibrated(op)
        norm = readers[0] if len(readers) == 1 and readers[0].isa(RMSNorm) else None
        if norm is not None and norm.params.frac_bits is not None:
            out = norm.params.frac_bits
        else:
            out = frac_bits_for(out_range, self.frac_bits)
        state = frac_bits_for(2 * out_range if isinstance(out_range, (int, float)) else None, self.state_frac_bits)
        return {"q_frac": q, "k_frac": k, "v_frac": v, "out_frac": out, "state_frac": state,
                "gate_frac": self.gate_frac_bits, "decay_bits": self.decay_bits}
