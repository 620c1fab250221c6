"""Choose how spike counts travel: as graded counts, or as spike trains over virtual steps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from sbcompile.ir import Module, SbirError
from sbcompile.ir.dialects.spike import Encode, count_range

from .base import Pass, PassContext, option
from .calibrate import HIST_LIMIT, Calibration
from .registry import register_pass
from .report import fold, table
from .rounding import sig


def events_per_count(coding: str, values: np.ndarray) -> np.ndarray:
    """Spikes needed to send each count: |s| for binary and ternary, set bits for bitwise."""
    a = np.abs(values).astype(np.int64)
    if coding != "bitwise":
        return a
    return np.array([bin(int(v)).count("1") for v in a], np.int64)


@register_pass
@dataclass(frozen=True)
class SelectCoding(Pass):
    """Sets every spike encoder's coding: `binary` (unsigned, one spike per unit), `ternary`
    (+-1 spikes, one per unit), `bitwise` (sign and magnitude, one step per bit, most significant
    first) over `steps` virtual time steps, or `count` (graded spikes carrying the count). Counts
    beyond what the steps can carry saturate; with calibration, the share that would saturate,
    the spikes per channel and the sparsity of each encoder are reported (and annotated as
    `coding.*`).

    Requires: spike.encode ops (calibrated for the figures). Guarantees: every encoder has the
    chosen coding and steps."""

    name = "select-coding"
    coding: Literal["count", "binary", "ternary", "bitwise"] = option("bitwise", "how counts travel")
    steps: int = option(3, "virtual time steps per token (ignored for count)")

    report_rank = 30
    report_key = "select_coding"

    @classmethod
    def render_section(cls, c: dict, report: dict) -> list[str]:
        if not c["ops"]:
            return []
        return (["## Spike coding", "", f"{c['coding']} over {c['steps']} steps, counts in {c['range']}, {len(c['ops'])} encoders.", ""]
                + fold("per encoder", table(c["ops"], "encoder")))

    def run(self, module: Module, ctx: PassContext) -> bool:
        steps = None if self.coding == "count" else self.steps
        if steps is not None and not 1 <= steps <= 31:
            raise SbirError(f"select-coding: steps must lie in [1, 31], got {steps}")
        bounds = count_range(self.coding, steps)
        section = {"coding": self.coding, "steps": steps, "range": list(bounds) if bounds else None, "ops": {}}
        changed = False
        encoders = ctx.analyses.get(Calibration, module).encoders
        for op in module.ops:
            if not op.isa(Encode):
                continue
            if (op.params.coding, op.params.steps) != (self.coding, steps):
                op.params = op.params.model_copy(update={"coding": self.coding, "steps": steps})
                changed = True
            seen = encoders.get(op.result.name)
            hist = None if seen is None else seen.hist
            if hist is None or bounds is None:
                continue
            values = np.arange(-HIST_LIMIT, HIST_LIMIT + 1)
            total = max(int(hist.sum()), 1)
            saturated = int(hist[(values < bounds[0]) | (values > bounds[1])].sum())
            events = float((events_per_count(self.coding, np.clip(values, *bounds)) * hist).sum()) / total
            facts = {"saturated": sig(saturated / total, 4), "spikes_per_channel": sig(events, 4),
                     "sparsity": sig(1 - events / steps, 4)}
            op.attrs.update({f"coding.{k}": v for k, v in facts.items()})
            section["ops"][op.result.name] = facts
        ctx.report["select_coding"] = section
        return changed
