"""The cuda target's compiled execution plan, generated from the IR: each op bound to a rule by
its op class (RULES), the ops cut into position-wise segments (run in token chunks, so long prompts
fit) and sequence mixers (GLA, window attention: run over the whole sequence), and for each
segment the values that must outlive it (kept in full-length buffers). Fusions come from IR passes
(fuse-projections, fuse-silu-mul, fuse-swiglu, fuse-activation, fuse-encode, fuse-residual): this module only
reads their marks.

Pure data, no torch: `emit` writes it as OUT/plan.json; executor.py runs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sbcompile.ir import Module, Op, SbirError
from sbcompile.ir.dialects.fixed_seq import FixedGLA, FixedWindowAttention
from sbcompile.ir.dialects.io import Input, Param
from sbcompile.ir.dialects.layers import AvgPool2d, Conv1d, Conv2d, Delay, Flatten, ScaleBy, SumPool2d
from sbcompile.ir.dialects.neuron import (IF, LI, LIF, CubaLI, CubaLIF, Integrator, LIFContinuous, LoihiLIF, SigmaDelta,
                                          Threshold)
from sbcompile.ir.dialects.nn import Add, Embed, FakeQuant, LogSigmoid, Mul, ReLU, RMSNorm, Route, Scale, Sigmoid, SiLU
from sbcompile.ir.dialects.seq import GLA, RoPE, WindowAttention
from sbcompile.ir.dialects.spike import Encode, Decode
from sbcompile.ir.dialects.syn import Dense
from sbcompile.passes.fuse_activation import ACTIVATION_OF
from sbcompile.passes.fuse_encode import ENCODED_BY
from sbcompile.passes.fuse_projections import ATTR as GEMM_GROUP
from sbcompile.passes.fuse_silu_mul import INTO
from sbcompile.passes.fuse_swiglu import SWIGLU

# op class -> the executor's rule (executor.Executor.<rule>)
RULES: dict[type, str] = {
    Input: "input", Embed: "embed", RMSNorm: "rmsnorm", Encode: "encode", Decode: "spike_decode", Dense: "dense",
    ReLU: "relu", SiLU: "silu", Sigmoid: "sigmoid", LogSigmoid: "logsigmoid", Scale: "scale", Add: "add",
    Mul: "mul", FakeQuant: "fake_quant", RoPE: "rope", GLA: "gla", WindowAttention: "window_attention",
}
MIXERS = (GLA, WindowAttention)
# op classes with no plan rule: a module holding one runs in the op-by-op session (session.py), the
# spiking-network ops through their numpy reference, MoE routing through its PyTorch form
SESSION_ONLY: tuple[type, ...] = (
    Param, Route, Conv1d, Conv2d, Delay, Flatten, SumPool2d, AvgPool2d, ScaleBy,
    LIF, LoihiLIF, IF, LIFContinuous, CubaLIF, CubaLI, LI, Integrator, Threshold, SigmaDelta,
    FixedGLA, FixedWindowAttention)  # the Loihi 2 fixed-point mixers: their integer reference semantics


@dataclass
class Node:
    index: int
    op: Op
    rule: str

    @property
    def result(self) -> str:
        return self.op.results[0].name


@dataclass
class Segment:
    mixer: bool
    nodes: list[Node] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)  # results read after this segment
    drop: list[str] = field(default_factory=list)  # earlier values last read here


def unsupported(op: Op) -> str | None:
    """Why the plan cannot run `op` (None: it can)."""
    rule = rule_of(op)
    p = op.params
    if rule is None:
        return "no plan rule for its op class"
    if op.isa(RMSNorm, Encode) and getattr(p, "frac_bits", None) is not None:
        return "an integer (frac_bits) form"
    if op.isa(Encode) and p.static is not None:
        return "a static threshold"
    if op.isa(Dense) and p.residual is not None:
        return "residual weight codes"
    if op.isa(WindowAttention) and p.sink_k is not None:
        return "sink tokens"
    if op.isa(*MIXERS) and (p.head_dim < 16 or p.head_dim & (p.head_dim - 1)):
        return "a head_dim that is not a power of two >= 16"
    if op.isa(RoPE) and p.head_dim & (p.head_dim - 1):
        return "a head_dim that is not a power of two"
    if op.isa(Encode, FakeQuant) and getattr(p, "group", None) and p.group & (p.group - 1):
        return "a channel group that is not a power of two"
    return None


def rule_of(op: Op) -> str | None:
    for cls, rule in RULES.items():
        if op.isa(cls):
            return rule
    return None


def build(module: Module) -> list[Segment]:
    for op in module.ops:
        why = unsupported(op)
        if why is not None:
            raise SbirError(f"the cuda plan cannot run {op.opdef.name} %{op.results[0].name}: {why}", op.where())
    segments: list[Segment] = []
    for index, op in enumerate(module.ops):
        mixer = op.isa(*MIXERS)
        if mixer or not segments or segments[-1].mixer:
            segments.append(Segment(mixer))
        segments[-1].nodes.append(Node(index, op, rule_of(op)))
    made = {n.result: i for i, s in enumerate(segments) for n in s.nodes}
    for s in segments:  # a fused GEMM's members are computed with its first member
        for n in s.nodes:
            if n.op.attrs.get(GEMM_GROUP) is not None:
                made[n.result] = made[n.op.attrs[GEMM_GROUP]]
    last: dict[str, int] = {}
    for i, s in enumerate(segments):
        for n in s.nodes:
            for v in n.op.operands:
                last[v.name] = i
    for v in module.outputs:
        last[v.name] = len(segments)
    for name, i in sorted(last.items()):
        if name in made and i > made[name]:
            segments[made[name]].keep.append(name)
            if i < len(segments):
                segments[i].drop.append(name)
    return segments


def describe(module: Module, segments: list[Segment], target: str, flavour: str) -> dict[str, Any]:
    """The plan as JSON data (OUT/plan.json): per segment its kind, ops and rules, kept values."""
    out = []
    for s in segments:
        ops = []
        for n in s.nodes:
            entry: dict[str, Any] = {"index": n.index, "result": n.result, "rule": n.rule}
            fused = {k: v for k, v in n.op.attrs.items() if k.startswith("fuse.")}
            if fused:
                entry["fused"] = fused
            ops.append(entry)
        out.append({"kind": "mixer" if s.mixer else "position-wise", "ops": ops, "keep": sorted(s.keep)})
    rules: dict[str, int] = {}
    for s in segments:
        for n in s.nodes:
            key = "fused" if any(k in n.op.attrs for k in (INTO, ENCODED_BY, ACTIVATION_OF, SWIGLU)) else n.rule
            rules[key] = rules.get(key, 0) + 1
    return {"target": target, "flavour": flavour, "format": 1, "rules": dict(sorted(rules.items())),
            "segments": out}
