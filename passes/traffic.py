"""The messages of a partitioned module: which tile talks to which, how many channels, of what
kind; and, once chips are chosen, the traffic graph with processor ops instanced per chip (a
broadcast reaches each chip once and is relayed there; partial results are merged on their chip
before they cross)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Any

import numpy as np

from sbcompile.ir import Module, Op
from sbcompile.ir.dialects.fixed_seq import FixedGLA, FixedWindowAttention
from sbcompile.ir.dialects.seq import GLA, WindowAttention
from sbcompile.loihi2_model.neuron_programs import internal_messages

from .mapping import Partitioning, Traffic


@dataclass(frozen=True)
class Link:
    """`channels` of value `producer` that `consumer` reads, from core `src` (None: the
    producer runs on a processor) to core `dst` (None: the consumer does). An `internal` link
    joins an op's own neurons (a tree of partial sums, a reduction, a broadcast): `channels`
    messages of kind `kind`."""

    producer: str
    consumer: str
    src: int | None
    dst: int | None
    channels: int
    lo: int
    hi: int
    internal: bool = False


def width_of(t: Any) -> int:
    """Channels of a value per token: its last dimension, 1 for a per-token scalar."""
    last = t.shape[-1] if t.shape else 1
    return last if isinstance(last, int) else 1


def senders(part: Partitioning, value: str) -> list[tuple[int, int, int]]:
    """(core, lo, hi): the tiles that send each channel range of a value on neurocores. A
    projection's sums are complete in its first input tile (the root of its accumulator tree)."""
    t = part.tiles_of(value)
    if t is None:
        return []
    return [(t.first + a * t.k_in, *t.chan_range(a)) for a in range(t.k_out)]


def receivers(part: Partitioning, op: Op, operand: int) -> list[tuple[int, int, int]]:
    """(core, lo, hi): the tiles of `op` that read each channel range of one operand: a
    projection's tile (a, b) its input range b; a population's tile its share of the channels
    (in proportion); an op fused into its holder's neurons, the holder's output tiles (nothing
    for the operand that lives in those neurons already)."""
    name, v = op.result.name, op.operands[operand]
    width = width_of(v.type)
    if name in part.holder:
        if part.holder.get(v.name, v.name) == part.holder[name]:
            return []
        own = width_of(op.result.type)
        return [(core, lo * width // own, hi * width // own) for core, lo, hi in senders(part, name)]
    c = part.core_ops[name]
    if c.dense:
        return [(c.first + a * c.k_in + b, *c.in_range(b)) for a in range(c.k_out) for b in range(c.k_in)]
    return [(c.first + a, lo * width // c.n_out, hi * width // c.n_out)
            for a in range(c.k_out) for lo, hi in [c.out_range(a)]]


PAIR_BUDGET = 4096


def coarsened(src: list[tuple[int, int, int]], receivers: int) -> list[tuple[int, int, int]]:
    """Sender tiles merged in runs of consecutive cores (each run sent from its middle core) so
    that senders x receivers stays within PAIR_BUDGET links: a value on many small tiles (an
    encoder whose fan-out fills its cores' routing) read whole by a projection on many tiles.
    The messages and channels are kept; only where they start is approximated."""
    group = -(-len(src) * receivers // PAIR_BUDGET)
    if group <= 1:
        return src
    runs = [src[i:i + group] for i in range(0, len(src), group)]
    return [(run[len(run) // 2][0], run[0][1], run[-1][2]) for run in runs]


def tile_links(module: Module, part: Partitioning) -> list[Link]:
    """Every (producer tile or processor) -> (consumer tile or processor) channel range, and
    every op's internal messages on its own neurons."""
    out: list[Link] = []
    for op in module.ops:
        name = op.result.name
        on_core = part.where[name] == "core"
        for i, v in enumerate(op.operands):
            if v.owner is None:
                continue
            src = senders(part, v.name)
            dst = receivers(part, op, i) if on_core else [(None, 0, width_of(v.type))]
            if not src:
                out.extend(Link(v.name, name, None, d, hi - lo, lo, hi) for d, lo, hi in dst if hi > lo)
                continue
            src = coarsened(src, len(dst))
            starts = [lo for _, lo, _ in src]
            for d, lo, hi in dst:
                for s, s_lo, s_hi in src[max(bisect_right(starts, lo) - 1, 0):bisect_left(starts, hi)]:
                    ov = min(hi, s_hi) - max(lo, s_lo)
                    if ov > 0:
                        out.append(Link(v.name, name, s, d, ov, max(lo, s_lo), min(hi, s_hi)))
        if on_core:
            out.extend(internal_links(op, part))
    return out


def internal_links(op: Op, part: Partitioning) -> list[Link]:
    """An op's messages among its own neurons: a projection's input tiles summed by a tree of
    accumulators (tile b + s sends its partial sums to tile b at each level s = 1, 2, 4, ...:
    tiles - 1 messages per output, ceil(log2 tiles) steps); the reductions, broadcasts and
    partial sums of its neuron programs (sbcompile/loihi2_model/neuron_programs.py), from the cores
    holding its channels to its first own core and back."""
    name = op.result.name
    t = part.core_ops.get(name)
    links: list[Link] = []
    if t is not None and t.dense:
        for a in range(t.k_out):
            lo, hi = t.out_range(a)
            s = 1
            while s < t.k_in:
                for b in range(s, t.k_in, 2 * s):
                    links.append(Link(name, name, t.first + a * t.k_in + b, t.first + a * t.k_in + b - s,
                                      hi - lo, lo, hi, True))
                s *= 2
        return links
    hub = t.first if t is not None else None
    cores = [c for c, _, _ in senders(part, name)] if name in part.holder else \
        ([t.first + a for a in range(t.k_out)] if t is not None else [])
    if hub is None or not cores:
        return links
    for kind, count in sorted(internal_messages(op).items()):
        each = -(-count // len(cores))
        for c in cores:
            if c != hub:
                a, b = (hub, c) if kind == "broadcast_24b" else (c, hub)
                links.append(Link(name, name, a, b, each, 0, 0, True))
    return links


def message_kind(module_values: dict[str, Any], producer: str, part: Partitioning) -> str:
    """`spike` (graded spike counts), `partial` (a core's graded sums and values) or `value` (a
    processor's numbers)."""
    if module_values[producer].type.kind == "spikes":
        return "spike"
    return "partial" if part.where.get(producer) == "core" else "value"


# Without calibration: the share of tokens in which a spike channel's count is not zero, 1 - the
# SpikingBrain report's 18.4% of silent channels (its 1.13 spikes per channel count bitwise spikes).
PAPER_ACTIVE_SHARE = 0.816


def channel_rates(op: Op | None, width: int, default_active: float) -> np.ndarray:
    """Messages per channel and token. A spike count travels as one graded spike whose payload is
    the count, so a channel sends a message in each token its count is not zero: the calibrated
    share of such tokens (`calib.active`) where known, `default_active` for other spike trains,
    and one for every other value (graded numbers are dense)."""
    if op is None or op.result.type.kind != "spikes":
        return np.ones(width)
    if "calib.active" in op.attrs and len(op.attrs["calib.active"]) == width:
        return np.array(op.attrs["calib.active"], np.float64)
    return np.full(width, default_active)


def op_work(op: Op, chip: Any, context: int) -> float:
    """Simple operations per token of an op off the neurocores: GLA updates and reads a
    head_dim x head_dim state per head; window attention reads `window` (else `context`) keys and
    values per head; other ops cost `ops_per_element` per output element."""
    width = width_of(op.result.type)
    if op.isa(GLA, FixedGLA):
        return 4.0 * op.params.heads * op.params.head_dim ** 2
    if op.isa(WindowAttention, FixedWindowAttention):
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
            if core is not None and part.where.get(proc) != "core":
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


ARGMAX = "(argmax)"
"""The x86 processor op that reads the outputs on neurocores: a language model's next token."""


def read_outputs(module: Module, part: Partitioning, chip_of_core: np.ndarray, relay: bool,
                 node: Any, edge: Any, work: list[float]) -> None:
    """Outputs on neurocores go to the argmax on an embedded processor: an instance on every chip
    that holds some of them compares its chip's channels and sends its best (one message) to the
    instance on the chip that holds the most, which picks the token."""
    per_chip: dict[int, int] = {}
    sent: list[tuple[int, int, str]] = []
    for v in module.outputs:
        if part.where.get(v.name) == "core":
            for core, lo, hi in senders(part, v.name):
                c = int(chip_of_core[core])
                per_chip[c] = per_chip.get(c, 0) + hi - lo
                sent.append((core, hi - lo, v.name))
    if not per_chip:
        return
    home = min(per_chip.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    for core, n, value in sent:
        c = int(chip_of_core[core])
        edge(core, node(ARGMAX, c if relay else home), float(n), "partial", value, ARGMAX)
    for c, n in sorted(per_chip.items()):
        work[node(ARGMAX, c if relay else home)] += n
        if relay and c != home:
            edge(node(ARGMAX, c), node(ARGMAX, home), 1.0, "value", ARGMAX, ARGMAX)


def build_traffic(module: Module, part: Partitioning, links: list[Link], chip_of_core: np.ndarray,
                  home: dict[str, int | None], system: Any, default_active: float, context: int,
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
    relays: list[bool] = []
    rates: dict[str, np.ndarray] = {}

    def edge(a: int, b: int, m: float, kind: str, producer: str, consumer: str, synaptic: bool = True) -> None:
        """`synaptic` False: into relay neurons or identity synapses (a fused op's operand, partial
        sums), one synaptic op per message rather than one per weight row."""
        relays.append(not synaptic)
        src.append(a)
        dst.append(b)
        msgs.append(m)
        kinds.append(kind)
        tags.append(transfers.setdefault((producer, consumer), len(transfers)))

    fanout: dict[tuple[str, int], list[tuple[int, int]]] = {}  # broadcasts relayed on a remote chip (any consumer)
    first_consumer: dict[str, str] = {}
    gather: dict[tuple[str, str, int], list[tuple[int, int]]] = {}  # partials merged on a remote chip
    crossing: dict[tuple[str, int], list[Link]] = {}  # core to core across chips: relayed on the far chip
    far_internal: dict[tuple[str, int, int], list[Link]] = {}  # an op's own messages across chips
    for ln in links:
        if ln.internal:
            if relay and chip_of_core[ln.src] != chip_of_core[ln.dst]:
                far_internal.setdefault((ln.producer, int(chip_of_core[ln.src]), int(chip_of_core[ln.dst])), []).append(ln)
            else:
                edge(ln.src, ln.dst, float(ln.channels), "partial", ln.producer, ln.consumer, synaptic=False)
            continue
        kind = message_kind(values, ln.producer, part)
        if ln.producer not in rates:
            width = width_of(values[ln.producer].type)
            rates[ln.producer] = channel_rates(owner.get(ln.producer), width, default_active)
        m = float(rates[ln.producer][ln.lo:ln.hi].sum()) if ln.hi <= len(rates[ln.producer]) else float(ln.channels)
        if ln.src is not None and ln.dst is not None:
            if relay and chip_of_core[ln.src] != chip_of_core[ln.dst]:
                crossing.setdefault((ln.producer, int(chip_of_core[ln.dst])), []).append(ln)
            else:
                edge(ln.src, ln.dst, m, kind, ln.producer, ln.consumer, synaptic=ln.consumer not in part.holder)
        elif ln.dst is not None:  # processor -> core: from the producer's instance on the core's chip
            c = int(chip_of_core[ln.dst])
            h = home[ln.producer]
            edge(node(ln.producer, c if relay else h), ln.dst, m, kind, ln.producer, ln.consumer,
                 synaptic=ln.consumer not in part.holder)
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
        edge(remote, node(consumer, home[consumer]), n, message_kind(values, producer, part), producer, consumer)
        work[remote] += n  # complete sums (the accumulator trees ran on cores): forwarded
    for (producer, far), group in sorted(crossing.items()):
        # each sending core's channels cross once to the far chip, to relay neurons on one of the
        # receiving cores there (the cores taken in turn, so that the crossings spread over the
        # chip's links), which hand them to the other receiving cores of that chip
        kind, rate = message_kind(values, producer, part), rates[producer]
        receiving = sorted({ln.dst for ln in group})
        by_src: dict[int, list[Link]] = {}
        for ln in group:
            by_src.setdefault(ln.src, []).append(ln)
        for src_core, lns in sorted(by_src.items()):
            hub = receiving[src_core % len(receiving)]
            edge(src_core, hub, float(rate.mean()) * union([(ln.lo, ln.hi) for ln in lns]), kind, producer,
                 lns[0].consumer, synaptic=False)
            for ln in lns:
                edge(hub, ln.dst, float(rate[ln.lo:ln.hi].sum()), kind, producer, ln.consumer,
                     synaptic=ln.consumer not in part.holder)
    for (name, near, far), group in sorted(far_internal.items()):
        # an op's reductions and partial sums are combined on their chip before they cross (a
        # local level of the tree: one core's share crosses), its broadcasts cross once and fan out
        local = min(ln.src for ln in group)
        remote = min(ln.dst for ln in group)
        for ln in group:
            if ln.src != local:
                edge(ln.src, local, float(ln.channels), "partial", name, name, synaptic=False)
            if ln.dst != remote:
                edge(remote, ln.dst, float(ln.channels), "partial", name, name, synaptic=False)
        edge(local, remote, float(max(ln.channels for ln in group)), "partial", name, name, synaptic=False)
    read_outputs(module, part, chip_of_core, relay, node, edge, work)
    n_nodes = len(node_chip)
    kind_bits = {k: chip.message_bits(k) for k in chip.message_payload_bits}
    return Traffic(cores=part.cores, node_chip=np.array(node_chip, np.int64), node_pos=np.zeros((n_nodes, 2), np.int64),
                   node_value=node_value, processor_of=np.full(n_nodes, -1, np.int64),
                   src=np.array(src, np.int64), dst=np.array(dst, np.int64), messages=np.array(msgs, np.float64),
                   bits=np.array([kind_bits[k] for k in kinds], np.float64), kind=kinds, transfer=np.array(tags, np.int64),
                   transfers=list(transfers), work=np.array(work, np.float64), relayed=np.array(relays, bool))
