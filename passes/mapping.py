"""What the Loihi 2 mapping passes hand each other: typed results (partition -> place ->
schedule -> energy), and the one place they are stored in and read from the PassContext, so the
store can change (to a typed analysis manager) without touching the passes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from sbcompile.ir import SbirError

from .base import PassContext

T = TypeVar("T")


def put(ctx: PassContext, result: object) -> None:
    """Store a mapping result under its type."""
    ctx.results[type(result).__name__] = result


def find(ctx: PassContext, kind: type[T]) -> T | None:
    """The stored result of `kind`, if a pass stored one."""
    found = ctx.results.get(kind.__name__)
    return found if isinstance(found, kind) else None


def get(ctx: PassContext, kind: type[T], needed_by: str, producer: str) -> T:
    """The stored result of `kind`, or a clear error naming the pass to run first."""
    found = find(ctx, kind)
    if found is None:
        raise SbirError(f"{needed_by}: run {producer} first")
    return found


@dataclass(frozen=True)
class CoreOp:
    """One op on neurocores: `k_out` x `k_in` tiles of at most `out_t` outputs and `in_t` inputs,
    on cores first .. first + k_out * k_in - 1 (tile (a, b) is core first + a * k_in + b). A
    projection's tile reads inputs [b * in_t, ...) and writes outputs [a * out_t, ...); a neuron
    population (`dense` False) has k_in = 1; its `channels` (the value's width, which may differ
    from its neurons: a GLA's state neurons) are spread over its tiles in proportion."""

    value: str
    dense: bool
    first: int
    n_out: int
    n_in: int
    out_t: int
    in_t: int
    k_out: int
    k_in: int
    weight_bits: int
    channels: int = 0

    @property
    def count(self) -> int:
        return self.k_out * self.k_in

    def chan_range(self, a: int) -> tuple[int, int]:
        """The channels of the value that output tile a holds."""
        lo, hi = self.out_range(a)
        if self.dense or not self.channels or self.channels == self.n_out:
            return lo, hi
        return lo * self.channels // self.n_out, hi * self.channels // self.n_out

    def out_range(self, a: int) -> tuple[int, int]:
        return a * self.out_t, min((a + 1) * self.out_t, self.n_out)

    def in_range(self, b: int) -> tuple[int, int]:
        return b * self.in_t, min((b + 1) * self.in_t, self.n_in)


@dataclass
class Partitioning:
    """Where every op runs (`where`, by value name) and the tiles of the ops on neurocores.
    `holder` names, for an op whose channels live in another op's neurons (fused), that op (its
    tiles send the value); `micro_ops` gives each core op's neuron programs per token as (first
    core, cores, micro-operations per core); `steps` the time steps each op adds to a token."""

    where: dict[str, str]
    core_ops: dict[str, CoreOp]
    cores: int
    holder: dict[str, str] = field(default_factory=dict)
    micro_ops: dict[str, tuple[int, int, float]] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)

    def tiles_of(self, value: str) -> CoreOp | None:
        """The tiles that send `value`: its holder's, else its own."""
        return self.core_ops.get(self.holder.get(value, value))


@dataclass
class Placement:
    """Chip and global mesh position (x, y) of every core; each processor op's home chip (where
    its result is complete; None for host ops); `pieces` are the (op, chip) groups the
    chip-level partitioner moved, with the cut before and after refinement."""

    chip_of_core: np.ndarray
    pos_of_core: np.ndarray
    home_chip: dict[str, int | None]
    chips_used: int
    grid: tuple[int, int]
    cut_before: float = 0.0
    cut_after: float = 0.0


@dataclass
class Traffic:
    """Messages per token between nodes. Nodes: cores 0 .. cores-1, then processor instances
    (an embedded op on one chip, or the host). Each edge carries `messages` of one kind (`bits`
    each) for one transfer (producer value, consumer value); `relay` edges join a processor op's
    instances on different chips (its input broadcast to them, or their partial results gathered)."""

    cores: int
    node_chip: np.ndarray          # chip of every node, -1 for the host
    node_pos: np.ndarray           # global (x, y) of every node; the host's is its chip link's end
    node_value: list[str]          # the op (value name) each processor node runs
    processor_of: np.ndarray       # embedded processor index of a node (chip * per_chip + i), -1 otherwise
    src: np.ndarray
    dst: np.ndarray
    messages: np.ndarray
    bits: np.ndarray
    kind: list[str]
    transfer: np.ndarray
    transfers: list[tuple[str, str]]
    work: np.ndarray = field(default_factory=lambda: np.zeros(0))  # simple ops per token of each node
    relayed: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # into relays or identity synapses

    @property
    def host_edges(self) -> np.ndarray:
        return (self.node_chip[self.src] < 0) | (self.node_chip[self.dst] < 0)

    @property
    def cross_chip(self) -> np.ndarray:
        a, b = self.node_chip[self.src], self.node_chip[self.dst]
        return (a >= 0) & (b >= 0) & (a != b)


@dataclass(frozen=True)
class TimeEstimate:
    """One scenario of the per-step model: decode latency, the pipelined step of prefill, and
    what bounds each."""

    decode_s: float
    decode_steps: int
    prefill_step_s: float
    prefill_bound: str
    decode_bound: str


@dataclass
class Timing:
    """The schedule's result for the low, central and high scenarios, and each op's time step."""

    scenarios: dict[str, TimeEstimate]
    level: dict[str, int]


@dataclass(frozen=True)
class Loads:
    """Work per token, summed over the mapping: what energy is charged for. `idle_updates_*`
    count neuron updates without input (every neuron updates every time step it is clocked)."""

    synops: float
    memory_bits: float
    neurons: int
    active_updates: float
    noc_bit_hops: float
    chip_link_bits: float
    embedded_ops: float
    host_ops: float
    host_link_bits: float
    chips: int
