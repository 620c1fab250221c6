"""Where each op of a spiking LLM runs on Loihi 2, with what neuron program, and what that costs:
the data the cost model reads (placement class, micro-operations per neuron per token, neurons,
state, tables, synapses, and the messages each op sends, by kind) so that partial sums, norms,
encoders and the GLA state stay on neurocores (docs/loihi2-dataflow.md says why, op by op).

Loihi 2's neuron microcode instruction set is not public. Intel's brief says neuron models are
programs of arithmetic and logic operations on per-neuron state with graded (integer) spikes;
Lava's bit-accurate `fixed_pt` models show which operations its own neurons use: multiplies by
12-bit decays and shifts (`lava/proc/lif/models.py`), the product of two graded inputs and a
shift (`lava/proc/prodneuron`), an inverse square root by a table seeded from the leading-zero
count and Newton iterations (`lava/proc/graded/models.py`, `InvSqrt`). Programs here are
counted in those operations (`MICRO_OPS`); a missing operation (division, exp, square root) is
built from them by the published workaround: a table plus Newton iterations, with its count."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from sbcompile.ir import Module, Op
from sbcompile.ir.dialects.fixed_seq import FixedGLA, FixedWindowAttention, decay_tables
from sbcompile.ir.dialects.io import Input
from sbcompile.ir.dialects.neuron import LIF, LoihiLIF
from sbcompile.ir.dialects.nn import Add, Embed, FakeQuant, LogSigmoid, Mul, ReLU, RMSNorm, Scale, Sigmoid, SiLU
from sbcompile.ir.dialects.seq import GLA, RoPE, WindowAttention
from sbcompile.ir.dialects.spike import Decode, Encode
from sbcompile.ir.dialects.syn import Dense

Placement = Literal["neurocore", "embedded", "host"]

MICRO_OPS: dict[str, str] = {
    "add": "integer add or subtract (also the rounding add before a shift)",
    "mul": "integer multiply of two registers or a register and a constant (LIF decay, ProdNeuron)",
    "shift": "arithmetic shift (LIF decays, weight exponents, InvSqrt)",
    "cmp": "compare and select: max, clip, ReLU, threshold test",
    "lut": "read one entry of a table held in the core's memory (InvSqrt's seed table)",
    "clz": "count leading zeros, to pick a table seed (InvSqrt)",
    "send": "emit one graded spike (24-bit payload in Lava's models, up to 32 on the chip)",
}


MESSAGE_KINDS: dict[str, int] = {
    "partial_sum_24b": 24,  # an input tile's partial sums to the accumulator that adds the tiles
    "graded_24b": 24,       # a value (fixed point) to the neurons that read it
    "spike_count_8b": 8,    # an encoder's counts to a projection's synapses
    "reduction_24b": 24,    # a channel's |x|, x^2 or score to the reduction neuron of its token or group
    "broadcast_24b": 24,    # a reduction's result (threshold, 1/rms, row max) back to the channels
}
"""The messages ops send, with their payload bits: what the traffic and energy models count."""


def ops(**counts: int) -> dict[str, int]:
    unknown = set(counts) - set(MICRO_OPS)
    if unknown:
        raise ValueError(f"unknown micro-operations {sorted(unknown)}")
    return dict(sorted(counts.items()))


def merged(*parts: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in parts:
        for k, v in p.items():
            out[k] = out.get(k, 0) + v
    return dict(sorted(out.items()))


NEWTON_STEPS = 3  # 24-bit reciprocal from an 8-bit-accurate table seed: 8 -> 16 -> 32 bits
RECIPROCAL = merged(ops(clz=1, lut=1, shift=1), *[ops(mul=2, add=1, shift=2)] * NEWTON_STEPS)
"""1/d for a 24-bit d: seed from a table indexed by the leading-zero count and the next bits,
then y <- y (2 - d y) three times (the iteration Lava's InvSqrt uses for 1/sqrt)."""

EXACT_QUOTIENT = ops(mul=2, add=2, cmp=2, shift=1)
"""round(x / d) from x * (1/d): q = (x r) >> s, then one correction from the remainder x - q d
(and the half-to-even tie), so that the result equals the reference's exact integer division."""

INV_SQRT = merged(ops(clz=1, lut=1, shift=1), *[ops(mul=3, add=1, shift=3)] * 5,
                  ops(mul=2, add=2, cmp=2))  # Lava InvSqrt's 5 iterations, then isqrt's exact correction


LIF_UPDATE = ops(mul=2, shift=2, add=3, cmp=1, send=1)
"""One update of Lava's bit-accurate LIF (`PyLifModelBitAcc`): current and voltage decays
(multiply, shift), the input, bias and current added, the threshold compared, a spike sent. The
cost model's neuron-update rate and energy are per LIF update; a program of m micro-operations
costs m / 9 of them."""


@dataclass(frozen=True)
class NeuronProgram:
    """One kind of neuron: where it runs, what it computes per token in micro-operations, the
    state each neuron keeps and the tables its core holds."""

    name: str
    placement: Placement
    micro_ops: dict[str, int]
    state_bits: int
    why: str
    table_entries: int = 0


def _exp_table_entries() -> int:
    return sum(len(t) for t in decay_tables(16, 16))


PROGRAMS: dict[str, NeuronProgram] = {p.name: p for p in [
    NeuronProgram("accumulator", "neurocore", ops(add=2, mul=2, shift=2, cmp=1, send=1), 48,
                  "the dendritic accumulator sums a tile's graded-spike inputs (synaptic ops); the neuron adds the "
                  "partial sums of the other input tiles (a chain or a tree of these neurons), then the epilogue: "
                  "x per-channel scale, x the token's threshold, + bias (+ residual), ReLU fused as a compare"),
    NeuronProgram("sum-reduce", "neurocore", ops(add=1, send=1), 24,
                  "one neuron per token (or channel group) sums |x| or x^2 sent by the channel neurons: fan-in is "
                  "the synapses' job; a second level only where the channels exceed one core's input axons"),
    NeuronProgram("threshold", "neurocore", merged(ops(mul=1, add=2, shift=1, cmp=2, send=2), RECIPROCAL), 48,
                  "V = clip(round(256 A / (k256 n))): a division by a constant is a multiply and a shift; then "
                  "1/V by table and Newton steps, and V and 1/V broadcast to the channel neurons"),
    NeuronProgram("count", "neurocore", merged(ops(cmp=3, send=2), EXACT_QUOTIENT), 48,
                  "each channel sends |x| up, then its count x / V rounded half to even from 1/V with one "
                  "correction (equal to the reference's integer division), saturated to the coding's range"),
    NeuronProgram("rms", "neurocore", merged(ops(add=2, shift=1, send=2), INV_SQRT, RECIPROCAL), 48,
                  "d = isqrt(sum x^2 // n + eps): the sum arrives summed; 1/sqrt by Lava's InvSqrt scheme, "
                  "corrected to the exact integer root, and 1/d broadcast"),
    NeuronProgram("norm-scale", "neurocore", merged(ops(mul=2, send=1), EXACT_QUOTIENT,
                                                    ops(mul=1, shift=1, add=1)), 48,
                  "each channel sends x^2 up, then y = round((x << f) / d) w / 2^12 (the reference's two "
                  "roundings), handing its integers straight to the encoder's count program in the same neuron"),
    NeuronProgram("gla-state", "neurocore", ops(mul=9, add=9, shift=9, cmp=2, send=7), 24 + 4 * 24,
                  "one neuron per state entry S[d, e] of a key/value head: S = rnd(decay_d S) + rnd(k_d v_e), "
                  "then q_hd S for each of the heads sharing it (7 on the 7B), summed per output by the "
                  "dendrites of the cores' output compartments (registers: S, k_d, v_e, decay_d)"),
    NeuronProgram("gla-decay", "neurocore", ops(lut=4, mul=3, shift=3, add=3, cmp=2, send=1), 48,
                  "per key channel: logsigmoid of the gate by table, its code split into three exp-table reads "
                  "(whole part, high and low halves) multiplied with rounding, sent to the channel's row",
                  table_entries=_exp_table_entries() + 256),
    NeuronProgram("elementwise", "neurocore", ops(lut=1, mul=2, shift=2, add=1, send=1), 48,
                  "SiLU (sigmoid by table, x sigmoid), the gate x up product of two graded inputs (as Lava's "
                  "ProdNeuron), decode (count x threshold): fused into the neuron that holds the value",
                  table_entries=256),
    NeuronProgram("rope", "neurocore", ops(add=1, lut=2, mul=4, shift=4, send=2), 48,
                  "a 24-bit phase accumulator per frequency (its wrap-around is the modulo 2 pi), sin and cos by "
                  "table, the channel pair rotated with four multiplies", table_entries=1024),
    NeuronProgram("absmax-quant", "neurocore", merged(ops(cmp=3, send=2), EXACT_QUOTIENT), 48,
                  "int8 K/V of the window: the group's max |x| by a max-reduction neuron, then round(x / scale) "
                  "as the count program does"),
    NeuronProgram("window-key", "neurocore",
                  ops(mul=7 * 2 * 128, add=7 * 2 * 128, shift=14, lut=7 * 3, cmp=7, send=7 * 2), 8 * 2 * 128 + 24,
                  "designed, not yet a Lava process: one neuron per key of the window holds k_j and v_j (int8, "
                  "256 bytes), scores its heads' queries, exp by table after the row max (a max tree), and sends "
                  "w v_j partial sums and w to per-core output compartments; one exact division per output",
                  table_entries=_exp_table_entries()),
    NeuronProgram("lif", "neurocore", LIF_UPDATE, 48, "Lava's built-in LIF, the chip's own neuron model"),
    NeuronProgram("embedding", "embedded", ops(), 0,
                  "a row lookup in a 152,064 x 3,584 table (545 MB at 8 bits) that no core memory holds; the x86 "
                  "processor reads the row and sends it as graded spikes (allowed off-core)"),
    NeuronProgram("argmax", "embedded", ops(cmp=1), 0,
                  "the next token: max over the LM head's 152,064 outputs, on the x86 processor (allowed off-core)"),
]}


def program_names(op: Op) -> tuple[str, ...]:
    """The neuron programs an op runs as (several for the ops that reduce across channels)."""
    if op.isa(Dense):
        return ("accumulator",)
    if op.isa(Encode):
        return ("count", "sum-reduce", "threshold") if op.params.static is None else ("count",)
    if op.isa(RMSNorm):
        return ("norm-scale", "sum-reduce", "rms")
    if op.isa(GLA, FixedGLA):
        return ("gla-state",)
    if op.isa(LogSigmoid, Scale):
        return ("gla-decay",)
    if op.isa(ReLU, Add):
        return ("accumulator",)
    if op.isa(SiLU, Sigmoid, Mul, Decode):
        return ("elementwise",)
    if op.isa(RoPE):
        return ("rope",)
    if op.isa(FakeQuant):
        return ("absmax-quant",)
    if op.isa(WindowAttention, FixedWindowAttention):
        return ("window-key",)
    if op.isa(Embed):
        return ("embedding",)
    if op.isa(LIF, LoihiLIF):
        return ("lif",)
    if op.isa(Input):
        return ()
    raise ValueError(f"no neuron program for {op.name} (%{op.results[0].name})")


def placement(op: Op) -> Placement:
    """Where an op runs: on neurocores unless one of its programs needs an x86 processor; the
    tokens come from the host."""
    if op.isa(Input):
        return "host"
    names = program_names(op)
    return "neurocore" if all(PROGRAMS[n].placement == "neurocore" for n in names) else "embedded"


@dataclass
class OpResources:
    """What one op costs on the chip per token: its new neurons (ops fused into a producer's
    neurons add none), their state, its synapses and tables, its micro-operations, and the
    messages it sends by kind, between neurocores (`messages`) or to and from the x86
    processors (`offcore_messages`)."""

    value: str
    op: str
    placement: Placement
    programs: tuple[str, ...]
    neurons: int = 0
    state_bytes: int = 0
    table_bytes: int = 0
    synapses: int = 0
    micro_ops: dict[str, int] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)
    offcore_messages: dict[str, int] = field(default_factory=dict)


def width(op: Op) -> int:
    return int(op.results[0].type.shape[-1])


def in_width(op: Op) -> int:
    last = op.operands[0].type.shape[-1] if op.operands and op.operands[0].type.shape else 1
    return last if isinstance(last, int) else 1


FUSED: dict[type, dict[str, int]] = {
    ReLU: ops(cmp=1), Add: ops(add=1), Scale: ops(mul=1, shift=1), Decode: ops(mul=1, shift=1),
    SiLU: ops(lut=1, mul=1, shift=1), Sigmoid: ops(lut=1), Mul: ops(mul=1, shift=1),
}
"""Elementwise ops that run in the neurons already holding their input (no neurons or messages
of their own), with their micro-operations per channel."""


def fused(op: Op) -> bool:
    return type(op.opdef) in FUSED


def resources(op: Op, *, max_fan_in: int = 4096, neurons_per_core: int = 8192,
              core_bytes: int = 128 * 1024) -> OpResources:
    """The per-token resources of one op. An input-split projection (the partition's `hw.tile`,
    else a fan-in beyond `max_fan_in` input axons per core) sends tiles - 1 partial sums per
    output to accumulator neurons, as a tree (ceil(log2 tiles) levels, the latency) or a chain:
    either way from core to core."""
    names = program_names(op)
    r = OpResources(op.results[0].name, op.name, placement(op), names)
    if not names:
        return r
    n_out, n_in = width(op), in_width(op)
    per = {n: PROGRAMS[n] for n in names}
    if op.isa(Dense):
        tile = op.attrs.get("hw.tiles")  # the partition's [output tiles, input tiles], where it ran
        tiles = int(tile[1]) if isinstance(tile, (list, tuple)) else max(1, math.ceil(n_in / max_fan_in))
        r.neurons = n_out * tiles
        r.synapses = n_out * n_in
        r.messages = {"partial_sum_24b": n_out * (tiles - 1), "graded_24b": n_out}
        r.micro_ops = scaled(per["accumulator"].micro_ops, n_out)
    elif len(names) == 1 and op.isa(Encode):  # a static threshold: no reduction, counts only
        r.micro_ops = scaled(per["count"].micro_ops, n_out)
        r.messages = {"spike_count_8b": n_out}
    elif op.isa(Encode, RMSNorm):
        group = op.params.group or n_out
        groups = n_out // group
        channel = per[names[0]]
        r.neurons = 2 * groups  # sum-reduce and threshold/rms neurons; the channel program runs in the producer's neurons
        r.micro_ops = merged(scaled(channel.micro_ops, n_out),
                             *[scaled(per[n].micro_ops, groups) for n in names[1:]])
        r.synapses = 3 * n_out  # channel -> reduction, and the broadcast back (two values for an encoder)
        r.messages = {"reduction_24b": n_out, "broadcast_24b": 2 * groups}
        r.messages["spike_count_8b" if op.isa(Encode) else "graded_24b"] = n_out
    elif op.isa(GLA, FixedGLA):
        p = op.params
        rep = p.heads // p.kv_heads
        per_head = p.head_dim * p.head_dim
        r.neurons = p.kv_heads * per_head  # heads that share a key/value head share its state
        r.micro_ops = scaled(PROGRAMS["gla-state"].micro_ops, r.neurons)
        r.synapses = r.neurons * (3 + 2 * rep)  # k_d, v_e, decay_d and each head's q_hd in; each head's product out
        cores = p.kv_heads * math.ceil(per_head / neurons_per_core)
        r.messages = {"partial_sum_24b": cores * rep * p.head_dim, "graded_24b": n_out}
    elif op.isa(WindowAttention, FixedWindowAttention):
        p = op.params
        rep = p.heads // p.kv_heads
        keys = p.kv_heads * (p.window or 4096)
        r.neurons = keys
        r.micro_ops = scaled(PROGRAMS["window-key"].micro_ops, keys)
        r.synapses = keys * (rep * p.head_dim + 2 * rep)  # its heads' queries and row maxima in
        cores = math.ceil(keys * PROGRAMS["window-key"].state_bits / 8 / core_bytes)
        r.messages = {"reduction_24b": 2 * keys * rep, "partial_sum_24b": cores * rep * (p.head_dim + 1),
                      "graded_24b": n_out}
    elif op.isa(Embed):
        r.offcore_messages = {"graded_24b": n_out}
    elif fused(op):
        r.micro_ops = scaled(FUSED[type(op.opdef)], n_out)
    else:
        r.neurons = n_out
        r.micro_ops = scaled(per[names[0]].micro_ops, n_out)
        r.messages = {"graded_24b": n_out}
    r.messages = {k: v for k, v in r.messages.items() if v}
    r.state_bytes = r.neurons * max(PROGRAMS[n].state_bits for n in names) // 8
    r.table_bytes = max(PROGRAMS[n].table_entries for n in names) * 3
    return r


def scaled(counts: dict[str, int], n: int) -> dict[str, int]:
    return {k: v * n for k, v in counts.items()}


def held_operand(op: Op) -> int | None:
    """The operand whose neurons also run this op's per-channel program, or None. Elementwise ops
    run in the neurons that hold their first input, a residual add in the accumulators of the
    projection it adds (the accumulator program's `+ residual`), a norm's channel program (x^2
    up, then the scaled value) in its producer's neurons, which leaves the norm only its
    reduction neurons (layers fused, as Abreu et al. 2025 did). An encoder keeps its own
    channel neurons: its counts fan out to every core of the projections that read them, more
    routing than a producer's cores have room for."""
    if op.isa(Add):
        dense = [i for i, v in enumerate(op.operands) if v.owner is not None and v.owner.isa(Dense)]
        return dense[0] if dense else 0
    return 0 if fused(op) or op.isa(RMSNorm) else None


@dataclass(frozen=True)
class Population:
    """The neurons an op places on neurocores: how many, the state bits of each, the synapses
    of all of them, and the tables (bits) every core holding some of them keeps."""

    neurons: int
    state_bits: int
    synapses: int
    table_bits: int


def population(op: Op, held: bool) -> Population:
    """An op's own neurons: held by its producer's neurons, only its reduction neurons (none for an
    elementwise op); else also one neuron per channel for its channel program (an encoder's,
    a norm's, an elementwise op's)."""
    r = resources(op)
    state = max((PROGRAMS[n].state_bits for n in r.programs), default=0)
    if held:
        return Population(r.neurons, state, r.synapses, r.table_bytes * 8)
    channels = width(op) if op.isa(Encode, RMSNorm) or fused(op) else 0
    n = max(r.neurons + channels, width(op))
    return Population(n, state, r.synapses + channels * len(op.operands), r.table_bytes * 8)


def core_inputs(op: Op, neurons: int, held: bool) -> int:
    """Input axons of a core that holds `neurons` of an op's neurons (an input read by several of
    the core's neurons enters once). A GLA core holds whole rows d of one key/value head's state
    (k_d, the decay and each sharing head's q_hd per row, and all v_e); a window core holds keys
    of one key/value head (its heads' queries, row maxima, and the new key and value); reduction
    neurons read every channel they reduce; other neurons one synapse per operand."""
    if op.isa(GLA, FixedGLA):
        p = op.params
        return -(-neurons // p.head_dim) * (2 + p.heads // p.kv_heads) + p.head_dim
    if op.isa(WindowAttention, FixedWindowAttention):
        p = op.params
        rep = p.heads // p.kv_heads
        return rep * p.head_dim + 2 * rep + 2 * p.head_dim
    if held:
        return width(op) if neurons else 0
    return neurons * max(len(op.operands), 1)


def steps(op: Op, held: bool, input_tiles: int = 1) -> int:
    """Time steps an op on neurocores adds to a token's path (a message sent in one step is
    integrated in the next): a projection 1, plus ceil(log2 tiles) for a tree of accumulators
    over its input tiles; an op fused into its producer's neurons 0; a reduction (an adaptive
    encoder, a norm) 2 beyond its channels (the sum up, the result back); GLA 2 (the state
    neurons, then the output compartments' sums); window attention 3 (scores, the row maximum
    back, the weighted sums); others 1. Not held, the channels' own step adds 1."""
    if op.isa(Dense):
        return 1 + math.ceil(math.log2(input_tiles))
    if op.isa(WindowAttention, FixedWindowAttention):
        return 3
    if op.isa(GLA, FixedGLA):
        return 2
    own = 2 if op.isa(RMSNorm) or (op.isa(Encode) and op.params.static is None) else 0 if fused(op) or op.isa(Encode) else 1
    return own + (0 if held or held_operand(op) is None else 1)


OUTPUT_KINDS = ("graded_24b", "spike_count_8b")


def internal_messages(op: Op) -> dict[str, int]:
    """Messages per token an op sends among its own neurons (reductions, broadcasts, partial
    sums); its output's messages are the traffic graph's links."""
    return {k: v for k, v in resources(op).messages.items() if k not in OUTPUT_KINDS}


def micro_ops(op: Op) -> int:
    """Micro-operations per token of an op's neuron programs."""
    return sum(resources(op).micro_ops.values())


def dataflow(module: Module, **kwargs: object) -> list[OpResources]:
    """Every op's placement and resources, in module order. The module's outputs (the LM head's
    logits) go to the x86 processor that takes the argmax: off-core messages."""
    outputs = {v.name for v in module.outputs}
    rows = []
    for op in module.ops:
        if op.isa(Input):
            continue
        r = resources(op, **kwargs)  # type: ignore[arg-type]
        if r.value in outputs and "graded_24b" in r.messages:
            r.offcore_messages["graded_24b"] = r.messages.pop("graded_24b")
        rows.append(r)
    return rows


def layer_table(module: Module) -> str:
    """Markdown rows for the ops outside the layers and those of the first layer of each kind (a
    GLA and a window-attention layer on the 7B): every op, where it runs, its programs and costs."""
    rows, seen = [], set()
    head = ("| op | IR | where | neuron programs | neurons | state bytes | synapses | micro-ops / token "
            "| messages / token (core to core; off-core) |\n|---|---|---|---|---|---|---|---|---|")
    for op, r in zip([o for o in module.ops if not o.isa(Input)], dataflow(module)):
        parts = r.value.split("_")
        layer = parts[1] if parts[0] == "layers" and len(parts) > 2 else None
        kind = "gla" if layer is not None and any(o.isa(GLA, FixedGLA) for o in module.ops
                                                  if o.results[0].name.startswith(f"layers_{layer}_")) else "swa"
        if layer is not None:
            if (kind, layer) not in seen and any(k == kind for k, _ in seen):
                continue
            seen.add((kind, layer))
        off = sum(r.offcore_messages.values())
        rows.append(f"| `%{r.value}` | `{r.op}` | {r.placement} | {', '.join(r.programs) or '-'} | {r.neurons:,} "
                    f"| {r.state_bytes:,} | {r.synapses:,} | {sum(r.micro_ops.values()):,} "
                    f"| {sum(r.messages.values()):,}; {off:,} |")
    rows.append("| (the next token) | argmax | embedded | argmax | 0 | 0 | 0 | - | 0; 0 |")
    return "\n".join([head, *rows])
