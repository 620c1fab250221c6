"""Lowering a placed module to a Lava process graph (graph.py).

Tokens stream through the graph one per time step. Integer synaptic projections (`syn.dense` on
spikes with integer codes) become Lava's built-in fixed-point `Dense` on neurocores, with graded
spikes carrying the counts; `neuron.loihi_lif` becomes Lava's built-in `LIF`; an integer encoder
(`spike.encode` with `frac_bits`) our fixed-point `SpikeEncoder`, an integer `nn.rmsnorm` our
`FixedNorm`. Every other op runs its reference
semantics in a host process, one process per group of ops that see a token at the same time step: a `Dense` delivers its sums one step after its spikes (Lava's and the chip's
timing), so each op has a latency, and a group buffers the inputs that reach it early.

Exactness: `Dense` computes the same integer sums as the interpreter (codes doubled, shifted back
by weight_exp = -1, since Lava's 8-bit mixed-sign weights are even); the float epilogue of the
projection and every host op run the interpreter's own code on one token. A `Dense` feeding a
`loihi_lif` directly takes the projection's power-of-two scales as weight exponents, one `Dense`
per exponent, summed at the LIF's input, which is `floor(acc * 2^e)` as the interpreter computes."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from sbcompile.ir import Module, Op, OpDef, SbirError
from sbcompile.ir.dialects.fixed_seq import FixedGLA, FixedWindowAttention, attention_fracs, input_fracs
from sbcompile.ir.dialects.io import Input, Param
from sbcompile.ir.dialects.layers import AvgPool2d, Conv1d, Conv2d, Delay, Flatten, ScaleBy, SumPool2d
from sbcompile.ir.dialects.neuron import (IF, LI, LIF, CubaLI, CubaLIF, Integrator, LIFContinuous, LoihiLIF, SigmaDelta,
                                          Threshold)
from sbcompile.ir.dialects.nn import (Add, Embed, FakeQuant, LogSigmoid, Mul, ReLU, RMSNorm, Route, Scale, Sigmoid, SiLU,
                                      norm_weight_codes)
from sbcompile.ir.dialects.seq import GLA, RoPE, WindowAttention
from sbcompile.ir.dialects.spike import Decode, Encode
from sbcompile.ir.dialects.syn import Dense, integer_parts
from sbcompile.ir.fixed import fixed_input
from sbcompile.ir.interpreter import Interpreter
from sbcompile.ir.weights import DTYPE_OF_NUMPY

from .graph import Connection, ProcessGraph, ProcessSpec
from .processes.payload import Layout, encoded_size

Rank = tuple[int, int]  # (latency in steps, zero-delay neuron hops within the step)


def probe(module: Module) -> tuple[dict[str, Layout], dict[str, Any]]:
    """Each value's per-token layout and its value on a zero token, from one interpreter step (the
    thresholds' shapes, and static thresholds themselves, are not in the types)."""
    inputs = module.inputs
    if len(inputs) != 1 or len(module.outputs) != 1:
        raise SbirError(f"loihi2 lowering of @{module.name}: the Lava graph streams one input and one output "
                        f"(this module has {len(inputs)} inputs and {len(module.outputs)} outputs)")
    t = inputs[0].result.type
    zero = np.zeros([1 if isinstance(d, str) else d for d in t.shape], np.dtype(NUMPY[t.dtype]))
    samples: dict[str, Any] = {}

    def observe(op: Op, args: list[Any], outs: list[Any]) -> None:
        samples.update({r.name: v for r, v in zip(op.results, outs)})

    Interpreter(module, record_activity=False, observer=observe)(**{inputs[0].params.name: zero})
    return {v: Layout.of(x) for v, x in samples.items()}, samples


NUMPY = {ir: name for name, ir in DTYPE_OF_NUMPY.items()} | {"bf16": "float32"}


def dense_parts(module: Module, op: Op, samples: dict[str, Any]) -> list[tuple[int, int]] | None:
    """The input ranges of an integer projection a neurocore runs, or None if `op` stays on the host
    (float weights or inputs, or thresholds per channel group, which take the float path)."""
    if op.params.scale is None or op.operands[0].type.kind != "spikes":
        return None
    x = samples[op.operands[0].name]
    if x.counts.ndim != 2 or (x.scale is not None and x.scale.ndim > 1 and x.scale.shape[-1] > 1):
        return None
    if op.params.residual is not None:
        raise SbirError(f"loihi2 lowering: {op.name} %{op.result.name}: sparse residual codes do not fit 8-bit "
                        "synapses (quantize with overflow=clamp)", op.where())
    codes = module.weights.get(op.params.weight)
    if np.abs(codes).max(initial=0) > 127:
        raise SbirError(f"loihi2 lowering: {op.name} %{op.result.name}: weight codes beyond 8 bits "
                        f"(|code| up to {int(np.abs(codes).max())}); quantize with weight-bits<=8", op.where())
    return integer_parts(op.params, x, codes.shape[1])


def folds_into_lif(module: Module, op: Op, users: list[Op], x: Any) -> bool:
    """A projection of unit spikes with power-of-two scales and no bias, read only by neurocore LIFs:
    its scales become Dense weight exponents and no host epilogue is needed."""
    if not users or any(not u.isa(LoihiLIF) for u in users):
        return False
    if op.params.bias is not None or op.params.group is not None or x.scale is not None:
        return False
    exps = np.log2(np.asarray(module.weights.get(op.params.scale), np.float64))
    return bool(np.all(exps == np.round(exps)) and np.all(np.abs(exps) <= 7))


# ---- which process runs an op: one rule per op class ----

Rule = Callable[["Lowering", int, Op], str]  # -> the op's process kind


def _dense(low: "Lowering", i: int, op: Op) -> str:
    """An integer projection on spikes runs on neurocores ("dense", or "folded" into the LIFs it
    feeds); any other stays on the host."""
    parts = dense_parts(low.module, op, low.samples)
    if parts is None:
        return "host"
    low.parts[i] = parts
    folded = folds_into_lif(low.module, op, low.users.get(op.result.name, []), low.samples[op.operands[0].name])
    return "folded" if folded else "dense"


def _integer(kind: str) -> Rule:
    """The op's own fixed-point process once a fixed-* pass gave it `frac_bits`, else the host."""
    return lambda low, i, op: kind if op.params.frac_bits is not None else "host"


PROCESS_RULES: dict[type[OpDef], Rule] = {
    Dense: _dense,
    LoihiLIF: lambda low, i, op: "lif",
    Encode: _integer("encoder"),
    RMSNorm: _integer("norm"),
    FixedGLA: lambda low, i, op: "gla",
    FixedWindowAttention: lambda low, i, op: "attention",
}

# Op classes with no Lava process of their own: they run their reference semantics in a host
# group (the interpreter's `run_op`), one token per step, as do the ops above whose rule says
# "host". A new op class goes here or into PROCESS_RULES (tests/loihi2/test_lower_rules.py holds
# every registered op to that).
HOST_OPS: tuple[type[OpDef], ...] = (
    Input, Param, Embed, Add, Mul, Scale, ReLU, SiLU, Sigmoid, LogSigmoid, Route, FakeQuant, Decode,
    GLA, RoPE, WindowAttention, LIF, IF, LI, Integrator, LIFContinuous, CubaLIF, CubaLI, Threshold,
    Conv1d, Conv2d, Delay, Flatten, SumPool2d, AvgPool2d, ScaleBy, SigmaDelta,
)


class Lowering:
    def __init__(self, module: Module) -> None:
        self.module = module
        self.layouts, self.samples = probe(module)
        self.users = module.users()
        self.procs: dict[str, ProcessSpec] = {}
        self.conns: list[Connection] = []
        self.weights: dict[str, np.ndarray] = {}
        self.rank: dict[str, Rank] = {}       # value -> (step, hop) at which its data exists
        self.kind: dict[int, str] = {}         # op index -> host | dense | folded | lif | encoder | norm
        self.parts: dict[int, list[tuple[int, int]]] = {}
        self.producer = {r.name: i for i, op in enumerate(module.ops) for r in op.results}

    def run(self) -> tuple[ProcessGraph, dict[str, np.ndarray]]:
        m = self.module
        self.classify()
        self.assign_ranks()
        in_value = m.inputs[0].result.name
        out_value = m.outputs[0].name
        in_size = math.prod(self.layouts[in_value].shape)
        self.add(ProcessSpec("injector", "injector", "host", [], 0, out_ports={"out_port": 1 + in_size}))
        groups: dict[Rank, list[int]] = {}
        for i, op in enumerate(m.ops):
            if self.kind[i] in ("host", "dense"):  # a Dense's float epilogue runs where its sums arrive
                groups.setdefault(self.rank[op.results[0].name], []).append(i)
        for r in sorted(groups):
            self.add_group(r, groups[r])
        builders = {"dense": self.add_dense, "folded": self.add_dense, "lif": self.add_lif,
                    "encoder": self.add_encoder, "norm": self.add_norm, "gla": self.add_fixed_seq,
                    "attention": self.add_fixed_seq}
        for i, op in enumerate(m.ops):
            if self.kind[i] in builders:
                builders[self.kind[i]](i, op)
        for r in sorted(groups):
            self.connect_group(r, groups[r])
        out_size = self.layouts[out_value].size
        self.add(ProcessSpec("extractor", "extractor", "host", [], self.rank[out_value][0], in_ports={"in_port": out_size}))
        self.conns.append(Connection(self.endpoint(out_value, "packed"), "extractor.in_port"))
        g = ProcessGraph(m.name, list(self.procs.values()), self.conns, self.rank[out_value][0], in_size, out_size,
                         vars(self.layouts[out_value]))
        g.validate()
        return g, self.weights

    def add(self, spec: ProcessSpec) -> None:
        self.procs[spec.name] = spec

    def classify(self) -> None:
        """Each op's process kind, by the rule for its class (none: a host group)."""
        for i, op in enumerate(self.module.ops):
            rule = PROCESS_RULES.get(type(op.opdef))
            self.kind[i] = rule(self, i, op) if rule is not None else "host"

    def assign_ranks(self) -> None:
        """Host ops see a token when their latest operand does; a Dense adds one step; a LIF adds a
        hop within the step (the group reading it must run after the one feeding it), and so do the
        fixed-point encoders and norms."""
        for i, op in enumerate(self.module.ops):
            top = max([self.rank[v.name] for v in op.operands] or [(0, 0)])
            if self.kind[i] in ("dense", "folded"):
                r = (top[0] + 1, 0)
            elif self.kind[i] in ("lif", "encoder", "norm", "gla", "attention"):
                r = (top[0], top[1] + 1)
            else:
                r = top
            for res in op.results:
                self.rank[res.name] = r

    # ---- processes ----

    def add_group(self, r: Rank, indices: list[int]) -> None:
        ops = [self.module.ops[i] for i in indices]
        places = {str(o.attrs.get("hw.where", "host")) for o in ops} - {"core"}
        self.add(ProcessSpec(_group_name(r), "host", "embedded" if places == {"embedded"} else "host",
                             [o.results[0].name for o in ops], r[0], in_ports={"tag": self.procs["injector"].out_ports["out_port"]},
                             params={"ops": indices, "inputs": [], "accumulators": {}, "outputs": [],
                                     "stats": self.stats_of([o.results[0].name for o in ops]),
                                     "layouts": {o.result.name: vars(self.layouts[o.result.name])
                                                 for o in ops if o.isa(Input)}}))
        self.conns.append(Connection("injector.out_port", f"{_group_name(r)}.tag"))

    def stats_of(self, values: list[str]) -> list[list]:
        """[value, channels] for each spike value a process makes: the activity it records."""
        return [[v, self.layouts[v].shape[-1]] for v in values if self.layouts[v].kind == "spikes"]

    def connect_group(self, r: Rank, indices: list[int]) -> None:
        spec = self.procs[_group_name(r)]
        inside = {res.name for i in indices for res in self.module.ops[i].results}
        inputs, accs = spec.params["inputs"], spec.params["accumulators"]
        for i in indices:
            op = self.module.ops[i]
            for v in op.operands:
                if v.name in inside or any(x["value"] == v.name for x in inputs):
                    continue
                port = f"in{len(inputs)}"
                spec.in_ports[port] = self.layouts[v.name].size
                inputs.append({"port": port, "value": v.name, "delay": r[0] - self.rank[v.name][0]})
                spec.params["layouts"][v.name] = vars(self.layouts[v.name])
                self.conns.append(Connection(self.endpoint(v.name, "packed"), f"{spec.name}.{port}"))
            if self.kind[i] == "dense":
                ports = []
                for d in self.dense_pieces(op.result.name):
                    port = f"acc{i}_{len(ports)}"
                    spec.in_ports[port] = d.out_ports["a_out"]
                    self.conns.append(Connection(f"{d.name}.a_out", f"{spec.name}.{port}"))
                    ports.append(port)
                accs[op.result.name] = ports

    def dense_pieces(self, value: str) -> list[ProcessSpec]:
        return [p for p in self.procs.values() if p.kind == "dense" and p.ops == [value]]

    def add_dense(self, i: int, op: Op) -> None:
        codes = np.asarray(self.module.weights.get(op.params.weight), np.int32)
        pieces: list[tuple[str, np.ndarray, int]] = []
        if self.kind[i] == "folded":
            scales = np.asarray(self.module.weights.get(op.params.scale), np.float64)[:, 0]
            exps = np.round(np.log2(scales)).astype(int)
            for e in sorted(set(exps.tolist())):
                pieces.append((f"e{e}", np.where((exps == e)[:, None], 2 * codes, 0), e - 1))
        else:
            for j, (lo, hi) in enumerate(self.parts[i]):
                w = np.zeros_like(codes)
                w[:, lo:hi] = 2 * codes[:, lo:hi]
                pieces.append((f"p{j}", w, -1))
        src = self.endpoint(op.operands[0].name, "counts")
        for suffix, w, exp in pieces:
            name = f"dense_{op.result.name}_{suffix}"
            self.weights[f"{name}.weights"] = w.astype(np.int32)
            self.add(ProcessSpec(name, "dense", "core", [op.result.name], self.rank[op.result.name][0],
                                 in_ports={"s_in": codes.shape[1]}, out_ports={"a_out": codes.shape[0]},
                                 params={"weights": f"{name}.weights", "weight_exp": exp, "num_message_bits": 8},
                                 cores=list(range(*_core_range(op)))))
            self.conns.append(Connection(src, f"{name}.s_in"))

    def add_lif(self, i: int, op: Op) -> None:
        p = op.params
        name = f"lif_{op.result.name}"
        n = math.prod(self.layouts[op.result.name].shape[1:])
        lat = self.rank[op.result.name][0]
        self.add(ProcessSpec(name, "lif", "core", [op.result.name], lat, in_ports={"a_in": n}, out_ports={"s_out": n},
                             params={"du": p.du, "dv": p.dv, "vth": p.vth, "bias_mant": p.bias_mant,
                                     "bias_exp": p.bias_exp}, cores=list(range(*_core_range(op)))))
        if p.rec_weight is not None:  # the recurrent projection: a Dense from the LIF back onto itself
            self.add_recurrent_dense(op, name, n)
        x = op.operands[0].name
        if self.kind[self.producer[x]] == "folded":
            for d in self.dense_pieces(x):
                self.conns.append(Connection(f"{d.name}.a_out", f"{name}.a_in"))
        else:
            self.conns.append(Connection(self.endpoint(x, "floor"), f"{name}.a_in"))

    def add_recurrent_dense(self, op: Op, lif: str, n: int) -> None:
        """Codes doubled with weight_exp = rec_exp - 1 (Lava's even 8-bit weights), as add_dense does;
        the Dense's one step of latency is the recurrence's delay."""
        name = f"dense_{op.result.name}_rec"
        self.weights[f"{name}.weights"] = 2 * np.asarray(self.module.weights.get(op.params.rec_weight), np.int32)
        self.add(ProcessSpec(name, "dense", "core", [op.result.name], self.rank[op.result.name][0],
                             in_ports={"s_in": n}, out_ports={"a_out": n},
                             params={"weights": f"{name}.weights", "weight_exp": op.params.rec_exp - 1,
                                     "num_message_bits": 0}, cores=list(range(*_core_range(op)))))
        self.conns += [Connection(f"{lif}.s_out", f"{name}.s_in"), Connection(f"{name}.a_out", f"{lif}.a_in")]

    def add_encoder(self, i: int, op: Op) -> None:
        name = f"enc_{op.result.name}"
        lay = self.layouts[op.result.name]
        n = math.prod(lay.shape)
        params = {k: v for k, v in op.params.model_dump().items() if k != "static"}
        self.add(ProcessSpec(name, "encoder", str(op.attrs.get("hw.where", "embedded")), [op.result.name],
                             self.rank[op.result.name][0],
                             in_ports={"x_in": n, "tag": self.procs["injector"].out_ports["out_port"]},
                             out_ports={"s_out": n, "packed_out": lay.size},
                             params={"encode": params, "stats": self.stats_of([op.result.name])}))
        self.conns.append(Connection("injector.out_port", f"{name}.tag"))
        self.conns.append(Connection(self.endpoint(op.operands[0].name, f"fixed:{op.params.frac_bits}"),
                                     f"{name}.x_in"))

    def add_norm(self, i: int, op: Op) -> None:
        name = f"norm_{op.result.name}"
        n = math.prod(self.layouts[op.result.name].shape)
        params = {"norm": op.params.model_dump(), "weights": None}
        if op.params.weight is not None:
            params["weights"] = f"{name}.weights"
            self.weights[params["weights"]] = norm_weight_codes(self.module.weights.get(op.params.weight)).astype(np.int32)
        self.add(ProcessSpec(name, "norm", str(op.attrs.get("hw.where", "host")), [op.result.name],
                             self.rank[op.result.name][0], in_ports={"x_in": n},
                             out_ports={"q_out": n, "y_out": n}, params=params))
        self.conns.append(Connection(self.endpoint(op.operands[0].name, f"fixed:{op.params.frac_bits}"),
                                     f"{name}.x_in"))

    # ---- seq.fixed_gla, seq.fixed_window_attention: fixed-point sequence mixers (issue 20) ----

    def add_fixed_seq(self, i: int, op: Op) -> None:
        """q, k, v (and the GLA's gate) arrive as 24-bit fixed point with the op's fraction bits
        (those that come steps early wait in a delay line); the output leaves as integers (q_out,
        to a fixed-point norm or encoder) and as values (y_out)."""
        kind = self.kind[self.producer[op.result.name]]
        name = f"{kind}_{op.result.name}"
        n = math.prod(self.layouts[op.result.name].shape)
        fracs = input_fracs(op.params) if kind == "gla" else attention_fracs(op.params)
        ports = {port: math.prod(self.layouts[v.name].shape)
                 for port, v in zip(("q_in", "k_in", "v_in", "g_in"), op.operands)}
        params: dict[str, Any] = {"op": op.params.model_dump(), "sinks": [],
                                  "delays": {port: self.rank[op.result.name][0] - self.rank[v.name][0]
                                             for port, v in zip(ports, op.operands)}}
        for field, frac in (("sink_k", fracs[1]), ("sink_v", fracs[2])):
            if getattr(op.params, field, None) is not None:
                params["sinks"].append(f"{name}.{field}")
                self.weights[f"{name}.{field}"] = fixed_input(
                    self.module.weights.get(getattr(op.params, field)), frac).astype(np.int32)
        self.add(ProcessSpec(name, kind, str(op.attrs.get("hw.where", "core")), [op.result.name],
                             self.rank[op.result.name][0],
                             in_ports={**ports, "tag": self.procs["injector"].out_ports["out_port"]},
                             out_ports={"q_out": n, "y_out": n}, params=params))
        self.conns.append(Connection("injector.out_port", f"{name}.tag"))
        for port, v, frac in zip(ports, op.operands, fracs):
            self.conns.append(Connection(self.endpoint(v.name, f"fixed:{frac}"), f"{name}.{port}"))

    def fixed_seq_endpoint(self, value: str, encoding: str) -> str:
        op = self.module.ops[self.producer[value]]
        return fixed_port(f"{self.kind[self.producer[value]]}_{value}", op, encoding, op.params.out_frac,
                          f"{op.name} %{value} (out_frac {op.params.out_frac})", "give the consumer the same fraction bits")

    # ---- end of the fixed-point sequence mixers ----

    def endpoint(self, value: str, encoding: str) -> str:
        """The out port that sends `value` as `encoding` (packed: the whole value; counts: spike
        counts for a Dense; floor: an integer current for a LIF; fixed:F: 24-bit fixed point with F
        fraction bits for an encoder), made on first use."""
        kind = self.kind[self.producer[value]]
        if kind == "lif":
            return f"lif_{value}.s_out"
        if kind == "encoder":
            return f"enc_{value}.{'s_out' if encoding == 'counts' else 'packed_out'}"
        if kind in ("gla", "attention"):
            return self.fixed_seq_endpoint(value, encoding)
        if kind == "norm":
            op = self.module.ops[self.producer[value]]
            return fixed_port(f"norm_{value}", op, encoding, op.params.frac_bits,
                              f"fixed-point nn.rmsnorm %{value} (frac_bits {op.params.frac_bits})",
                              "give both the same frac_bits")
        spec = self.procs[_group_name(self.rank[value])]
        outs = spec.params["outputs"]
        for o in outs:
            if o["value"] == value and o["encoding"] == encoding:
                return f"{spec.name}.{o['port']}"
        port = f"out{len(outs)}"
        outs.append({"port": port, "value": value, "encoding": encoding})
        spec.out_ports[port] = encoded_size(self.layouts[value], encoding)
        return f"{spec.name}.{port}"


def fixed_port(name: str, op: Op, encoding: str, frac: int, what: str, fix: str) -> str:
    """The out port of a fixed-point process (norm, GLA, attention) for a consumer's `encoding`:
    the packed value, or its integers when the consumer takes the same fraction bits."""
    if encoding == "packed":
        return f"{name}.y_out"
    if encoding == f"fixed:{frac}":
        return f"{name}.q_out"
    raise SbirError(f"loihi2 lowering: {what} cannot feed a consumer that takes {encoding}; {fix}", op.where())


def _group_name(r: Rank) -> str:
    return f"host_{r[0]}_{r[1]}"


def _core_range(op: Op) -> tuple[int, int]:
    first, count = op.attrs.get("hw.cores", [0, 0])
    return int(first), int(first) + int(count)


def lower(module: Module) -> tuple[ProcessGraph, dict[str, np.ndarray]]:
    """The process graph of `module` and the Dense weight matrices it names."""
    return Lowering(module).run()
