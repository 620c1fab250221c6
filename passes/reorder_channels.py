"""Activity-aware channel reordering: rare channels grouped so that whole weight blocks go
unread in most tokens (the co-design the SpikingBrain report proposes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sbcompile.ir import Module, SbirError
from sbcompile.ir.dialects.syn import Dense

from .base import Pass, PassContext, option
from .calibrate import Calibration
from .registry import register_pass
from .report import per_unit


def fetch_share(active: np.ndarray, order: np.ndarray, block: int) -> np.ndarray:
    """For each block of `block` input channels taken in `order`, the chance that a token reads
    its weights: some channel in it fires (channels taken as independent)."""
    p = active[order]
    pad = (-len(p)) % block
    blocks = np.concatenate([p, np.zeros(pad)]).reshape(-1, block)
    return 1 - np.prod(1 - blocks, axis=1)


@register_pass
@dataclass(frozen=True)
class ReorderChannels(Pass):
    """Orders each spiking projection's input channels by how often calibration saw them fire,
    so that silent and rare channels share weight blocks (`block` inputs each, the granularity
    at which a core fetches synapses) that most tokens never touch. The order is recorded as
    `hw.in_order` (a permutation of the input axons; the values computed do not change) with the
    blocks and bytes skipped per token before and after (`reorder.*`), and summed in the report.

    Requires: calibrate. Guarantees: results unchanged; every calibrated spiking syn.dense carries
    `hw.in_order`."""

    name = "reorder-channels"
    block: int = option(32, "input channels per weight block")

    report_rank = 80
    report_key = "reorder_channels"

    @classmethod
    def render_section(cls, r: dict, report: dict) -> list[str]:
        per = per_unit(report)
        return ["## Channel reordering", "",
                f"- weight blocks of {r['block']} inputs skipped per {per}: {r['skipped_before']:.4g} before, "
                f"{r['skipped_after']:.4g} after reordering, of {r['blocks']:,}",
                f"- bytes skipped per {per}: {r['bytes_skipped_before']:,.0f} before, {r['bytes_skipped_after']:,.0f} "
                f"after, of {r['bytes']:,}", ""]

    def run(self, module: Module, ctx: PassContext) -> bool:
        if self.block < 1:
            raise SbirError(f"reorder-channels: block must be positive, got {self.block}")
        totals = {"blocks": 0, "skipped_before": 0.0, "skipped_after": 0.0, "bytes": 0, "bytes_skipped_before": 0.0,
                  "bytes_skipped_after": 0.0}
        ops = {}
        encoders = ctx.analyses.get(Calibration, module).encoders
        for op in module.ops:
            seen = encoders.get(op.operands[0].name) if op.operands else None
            if not op.isa(Dense) or seen is None or seen.active is None:
                continue
            active = seen.active
            order = np.argsort(-active, kind="stable")
            before = fetch_share(active, np.arange(len(active)), self.block)
            after = fetch_share(active, order, self.block)
            bits = int(op.attrs.get("quant.bits", 8))
            block_bytes = self.block * op.result.type.shape[-1] * bits / 8
            facts = {"blocks": len(after), "skipped_before": float(f"{(1 - before).sum():.4g}"),
                     "skipped_after": float(f"{(1 - after).sum():.4g}")}
            op.attrs["hw.in_order"] = tuple(int(i) for i in order)
            op.attrs.update({f"reorder.{k}": v for k, v in facts.items()})
            ops[op.result.name] = facts
            totals["blocks"] += facts["blocks"]
            totals["skipped_before"] += facts["skipped_before"]
            totals["skipped_after"] += facts["skipped_after"]
            totals["bytes"] += int(len(after) * block_bytes)
            totals["bytes_skipped_before"] += facts["skipped_before"] * block_bytes
            totals["bytes_skipped_after"] += facts["skipped_after"] * block_bytes
        ctx.report["reorder_channels"] = {"block": self.block, **{k: float(f"{v:.4g}") for k, v in totals.items()},
                                          "ops": ops}
        return bool(ops)
