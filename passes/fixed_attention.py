"""Sliding-window softmax attention to integer arithmetic: exp by table, integer normalisation."""

from __future__ import annotations

from dataclasses import dataclass

from sbcompile.ir import Module, Op
from sbcompile.ir.dialects.fixed_seq import FixedWindowAttention, FixedWindowAttentionParams
from sbcompile.ir.dialects.seq import WindowAttention
from sbcompile.ir.dialects.spike import Encode
from sbcompile.ir.fixed import frac_bits_for

from .base import Pass, PassContext, option
from .registry import register_pass


@register_pass
@dataclass(frozen=True)
class FixedAttention(Pass):
    """Rewrites every `seq.window_attention` into `seq.fixed_window_attention` (docs/ir.md): q, k,
    v and the output as 24-bit fixed point, integer scores, softmax weights exp(s - max s) from
    the same exp tables as the GLA decay, and one integer division per output (a reciprocal by
    table and iteration on a chip). Fraction bits of q, k, v and the output fit their calibrated
    ranges at half the 24-bit range, else `frac-bits`; the output takes those of the fixed-point
    encoder that reads it (run after `fixed-encoders`), so that its integers pass straight through.
    The loihi2 target runs it as a fixed-point Lava process.

    Guarantees: no `seq.window_attention` is left; the report lists each op's widths."""

    name = "fixed-attention"
    frac_bits: int = option(12, "fraction bits of q, k, v and the output where they were not calibrated")
    score_frac_bits: int = option(12, "fraction bits of the attention scores (natural-log units)")
    prob_bits: int = option(16, "fraction bits of the unnormalised softmax weights")

    def run(self, module: Module, ctx: PassContext) -> bool:
        chosen: dict[str, dict[str, int]] = {}
        users = module.users()
        for i, op in enumerate(module.ops):
            if not op.isa(WindowAttention) or op.isa(FixedWindowAttention):
                continue
            q, k, v, out = (frac_bits_for(x.attrs.get("calib.absmax") if x is not None else None, self.frac_bits)
                            for x in (*(o.owner for o in op.operands), op))
            readers = users.get(op.result.name, [])
            if len(readers) == 1 and readers[0].isa(Encode) and readers[0].params.frac_bits is not None:
                out = readers[0].params.frac_bits  # its integers pass to the encoder unchanged
            widths = {"q_frac": q, "k_frac": k, "v_frac": v, "out_frac": out, "score_frac": self.score_frac_bits,
                      "prob_bits": self.prob_bits}
            p = FixedWindowAttentionParams(**op.params.model_dump(), **widths)
            module.ops[i] = Op(FixedWindowAttention.name, op.operands, op.results, p, dict(op.attrs), op.loc)
            chosen[op.result.name] = widths
        if chosen:
            ctx.report["fixed_attention"] = chosen
        return bool(chosen)
