"""Slice-aligned core order: an input-split projection reads its input in slices, and each slice
is produced by a few output tiles of the projections before it (an MLP's down_proj reads
gate_proj x up_proj, held by gate_proj's neurons). Packed in dataflow order, all the producers'
cores come first and the consumer's after them, so nearly every slice crosses to another chip.
Ordering those cores by the channel they hold or read puts each slice's producers beside its
readers: what crosses chips is then the consumer's partial sums, not its whole input."""

from __future__ import annotations

import numpy as np

from sbcompile.ir import Module, Value
from sbcompile.ir.dialects.syn import Dense

from .mapping import CoreOp, Partitioning


def feeders(value: Value, part: Partitioning) -> list[str]:
    """The projections whose output tiles produce `value` channel for channel: the projection
    itself, or, for an elementwise op fused into neurons (`holder`), those of its operands of
    the same width."""
    op = value.owner
    if op is None:
        return []
    if op.isa(Dense) and value.name in part.core_ops:
        return [value.name]
    if value.name not in part.holder:
        return []
    width = value.type.shape[-1]
    return [name for u in op.operands if u.type.shape[-1] == width for name in feeders(u, part)]


def _mid(lo: int, hi: int, n: int) -> float:
    return (lo + hi) / 2 / max(n, 1)


def _keys(t: CoreOp, reads: bool) -> list[tuple[int, float]]:
    """(core, channel position in [0, 1]) of every tile of `t`: the input slice it reads for the
    consumer, the output channels it holds for a producer."""
    out = []
    for a in range(t.k_out):
        for b in range(t.k_in):
            lo, hi = t.in_range(b) if reads else t.chan_range(a)
            out.append((t.first + a * t.k_in + b, _mid(lo, hi, t.n_in if reads else t.n_out)))
    return out


def aligned_order(module: Module, part: Partitioning) -> np.ndarray:
    """A permutation of the cores (position -> core): dataflow order, except that each
    input-split projection and its feeders, where their cores form one run, are interleaved by
    channel (producers before readers at the same position)."""
    order = np.arange(part.cores, dtype=np.int64)
    for op in module.ops:
        t = part.core_ops.get(op.result.name)
        if t is None or not op.isa(Dense) or t.k_in < 2:
            continue
        group = [part.core_ops[f] for f in dict.fromkeys(feeders(op.operands[0], part))]
        if not group:
            continue
        first = min(g.first for g in (*group, t))
        end = max(g.first + g.count for g in (*group, t))
        if sum(g.count for g in (*group, t)) != end - first or (order[first:end] != np.arange(first, end)).any():
            continue  # not one run of cores, or already reordered: leave it as it is
        keyed = [(pos, 0, core) for g in group for core, pos in _keys(g, reads=False)]
        keyed += [(pos, 1, core) for core, pos in _keys(t, reads=True)]
        order[first:end] = [core for _, _, core in sorted(keyed)]
    return order
