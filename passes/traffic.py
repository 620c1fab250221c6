"""The messages of a partitioned module: which tile talks to which, how many channels, of what
kind; and, once chips are chosen, the traffic graph with processor ops instanced per chip (a
broadcast reaches each chip once and is relayed there; partial results are merged on their chip
before they cross)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sbcompile.ir import Module, Op
from sbcompile.ir.dialects.seq import GLA, WindowAttention

from .mapping import CoreOp, Partitioning, Traffic


@dataclass(frozen=True)
class Link:
    """`channels` of value `producer` that `consumer` reads, from core `src` (None: the
    producer runs on a processor) to core `dst` (None: the consumer does)."""

    producer: str
    consumer: str
    src: int | None
    dst: int | None
    channels: int
    lo: int
    hi: int


def width_of(t: Any) -> int:
    """Channels of a value per token: its last dimension, 1 for a per-token scalar."""
    last = t.shape[-1] if t.shape else 1
    return last if isinstance(last, int) else 1


def tile_links(module: Module, part: Partitioning) -> list[Link]:
    """Every (producer tile or processor) -> (consumer tile or processor) channel range."""
    out: list[Link] = []
    for op in module.ops:
        c = part.core_ops.get(op.result.name)
        for v in op.operands:
            if v.owner is None:
                continue
            p = part.core_ops.get(v.name)
            width = width_of(v.type)
            if c is None and p is None:
                out.append(Link(v.name, op.result.name, None, None, width, 0, width))
            elif c is None:
                for a in range(p.k_out):
                    lo, hi = p.out_range(a)
                    for b in range(p.k_in):
                        out.append(Link(v.name, op.result.name, p.first + a * p.k_in + b, None, hi - lo, lo, hi))
            else:
                for a in range(c.k_out):
                    for b in range(c.k_in):
                        lo, hi = c.in_range(b) if c.dense else c.out_range(a)
                        dst = c.first + a * c.k_in + b
                        if p is None:
                            out.append(Link(v.name, op.result.name, None, dst, hi - lo, lo, hi))
                            continue
                        for sa in range(lo // p.out_t, min(-(-hi // p.out_t), p.k_out)):
                            s_lo, s_hi = p.out_range(sa)
                            ov = min(hi, s_hi) - max(lo, s_lo)
                            for sb in range(p.k_in if ov > 0 else 0):
                                out.append(Link(v.name, op.result.name, p.first + sa * p.k_in + sb, dst, ov,
                                                max(lo, s_lo), min(hi, s_hi)))
    return out


def message_kind(module_values: dict[str, Any], producer: str, part: Partitioning) -> str:
    """`spike` (graded spike counts), `partial` (a core's graded sums) or `value` (a processor's numbers)."""
    if producer in part.core_ops:
        return "partial"
    return "spike" if module_values[producer].type.kind == "spikes" else "value"


def channel_rates(op: Op | None, width: int, default_rate: float) -> np.ndarray:
    """Messages per channel and token: calibrated spikes per channel where known, `default_rate`
    for other spike trains, one for every other value (graded numbers are dense)."""
    if op is None or op.result.type.kind != "spikes":
        return np.ones(width)
    if "calib.rate" in op.attrs and len(op.attrs["calib.rate"]) == width:
        return np.array(op.attrs["calib.rate"], np.float64)
    return np.full(width, default_rate)


def op_work(op: Op, chip: Any, context: int) -> float:
    """Simple operations per token of an op off the neurocores: GLA updates and reads a
    head_dim x head_dim state per head; window attention reads `window` (else `context`) keys and
    values per head; other ops cost `ops_per_element` per output element."""
    width = width_of(op.result.type)
    if op.isa(GLA):
        return 4.0 * op.params.heads * op.params.head_dim ** 2
    if op.isa(WindowAttention):
        return 4.0 * op.params.heads * op.params.head_dim * (op.params.window or context)
    table = chip.ops_per_element
    return float(width) * table.get(type(op.opdef).__name__, table["default"])


def union(ranges: list[tuple[int, int]]) -> int:
    """Channels covered by a set of [lo, hi) ranges."""
    total, end = 0, -1
    for lo, hi in sorted(ranges):
        if hi > end:
            total += hi - max(lo, end)
            end = hi
    return total


def home_chips(module: Module, part: Partitioning, links: list[Link], chip_of_core: np.ndarray) -> dict[str, int | None]:
    """Each embedded op's home: the chip that exchanges the most channels with it, else its
    producer's home, else chip 0. Host ops have none."""
    weight: dict[str, dict[int, float]] = {}
    for ln in links:
        for proc, core in ((ln.producer, ln.dst), (ln.consumer, ln.src)):
            if core is not None and proc not in part.core_ops:
                w = weight.setdefault(proc, {})
                chip = int(chip_of_core[core])
                w[chip] = w.get(chip, 0.0) + ln.channels
    home: dict[str, int | None] = {}
    for op in module.ops:
        name = op.result.name
        if part.where[name] == "core":
            continue
        if part.where[name] == "host":
            home[name] = None
        elif name in weight:
            home[name] = min(weight[name].items(), key=lambda kv: (-kv[1], kv[0]))[0]
        else:
            homes = [home.get(v.name) for v in op.operands if home.get(v.name) is not None]
            home[name] = homes[0] if homes else 0
    return home


def build_traffic(module: Module, part: Partitioning, links: list[Link], chip_of_core: np.ndarray,
                  home: dict[str, int | None], system: Any, default_rate: float, context: int,
                  relay: bool = True) -> Traffic:
    """The traffic graph under a chip assignment (nodes positioned later by place). A processor
    op has an instance on every chip whose cores it talks to: on its home chip it computes, on the
    others an embedded processor relays (a host op's instances all relay to and from the host).
    Without `relay`, every processor op talks to every core from its home (the baseline)."""
    chip = system.chip
    values = {v.name: v for v in module.values()}
    owner = {op.result.name: op for op in module.ops}
    nodes: dict[tuple[str, int], int] = {}
    node_chip = list(chip_of_core.tolist())
    node_value: list[str] = [""] * part.cores
    work: list[float] = [0.0] * part.cores

    def node(value: str, on_chip: int | None) -> int:
        key = (value, -1 if on_chip is None else on_chip)
        if key not in nodes:
            nodes[key] = len(node_chip)
            node_chip.append(key[1])
            node_value.append(value)
            work.append(0.0)
        return nodes[key]

    for op in module.ops:  # every processor op at its home first, with its own work
        if part.where[op.result.name] != "core":
            work[node(op.result.name, home[op.result.name])] += op_work(op, chip, context)
    transfers: dict[tuple[str, str], int] = {}
    src, dst, msgs, kinds, tags = [], [], [], [], []
    rates: dict[str, np.ndarray] = {}

    def edge(a: int, b: int, m: float, kind: str, producer: str, consumer: str) -> None:
        src.append(a)
        dst.append(b)
        msgs.append(m)
        kinds.append(kind)
        tags.append(transfers.setdefault((producer, consumer), len(transfers)))

    fanout: dict[tuple[str, int], list[tuple[int, int]]] = {}  # broadcasts relayed on a remote chip (any consumer)
    first_consumer: dict[str, str] = {}
    gather: dict[tuple[str, str, int], list[tuple[int, int]]] = {}  # partials merged on a remote chip
    for ln in links:
        kind = message_kind(values, ln.producer, part)
        if ln.producer not in rates:
            width = width_of(values[ln.producer].type)
            rates[ln.producer] = channel_rates(owner.get(ln.producer), width, default_rate)
        m = float(rates[ln.producer][ln.lo:ln.hi].sum()) if ln.hi <= len(rates[ln.producer]) else float(ln.channels)
        if ln.src is not None and ln.dst is not None:
            edge(ln.src, ln.dst, m, kind, ln.producer, ln.consumer)
        elif ln.dst is not None:  # processor -> core: from the producer's instance on the core's chip
            c = int(chip_of_core[ln.dst])
            h = home[ln.producer]
            edge(node(ln.producer, c if relay else h), ln.dst, m, kind, ln.producer, ln.consumer)
            if relay and c != h:
                fanout.setdefault((ln.producer, c), []).append((ln.lo, ln.hi))
                first_consumer.setdefault(ln.producer, ln.consumer)
        elif ln.src is not None:  # core -> processor: to the consumer's instance on the core's chip
            c = int(chip_of_core[ln.src])
            h = home[ln.consumer]
            edge(ln.src, node(ln.consumer, c if relay else h), m, kind, ln.producer, ln.consumer)
            if relay and c != h:
                gather.setdefault((ln.producer, ln.consumer, c), []).append((ln.lo, ln.hi))
        else:
            edge(node(ln.producer, home[ln.producer]), node(ln.consumer, home[ln.consumer]), m, kind,
                 ln.producer, ln.consumer)
    for (producer, c), ranges in sorted(fanout.items()):
        n = union(ranges)
        share = float(rates[producer].mean()) * n
        remote = node(producer, c)
        edge(node(producer, home[producer]), remote, share, message_kind(values, producer, part), producer,
             first_consumer[producer])
        work[remote] += share
    for (producer, consumer, c), ranges in sorted(gather.items()):
        n = float(union(ranges))
        remote = node(consumer, c)
        edge(remote, node(consumer, home[consumer]), n, "partial", producer, consumer)
        work[remote] += n * max(part.core_ops[producer].k_in, 1)
    n_nodes = len(node_chip)
    kind_bits = {k: chip.message_bits(k) for k in chip.message_payload_bits}
    return Traffic(cores=part.cores, node_chip=np.array(node_chip, np.int64), node_pos=np.zeros((n_nodes, 2), np.int64),
                   node_value=node_value, processor_of=np.full(n_nodes, -1, np.int64),
                   src=np.array(src, np.int64), dst=np.array(dst, np.int64), messages=np.array(msgs, np.float64),
                   bits=np.array([kind_bits[k] for k in kinds], np.float64), kind=kinds, transfer=np.array(tags, np.int64),
                   transfers=list(transfers), work=np.array(work, np.float64))
