"""sbir -> NIR, where NIR can express the module: the inverse of nir_import. Node names are the
ops' `nir.node` annotations (else the value names); weight-store arrays are written unchanged;
`nn.add` and the decoding of unit spikes before it become NIR fan-in (several edges into one
node); the module's `dt` goes into the graph metadata; a recurrent neuron op's rec_weight/rec_bias
becomes its Linear/Affine node and the cycle's two edges. The file is written in the form of one
NIR version (nir_versions.py): the one asked for, else the oldest that keeps every node's reset.
The discrete `neuron.lif` is written as NIR's LIF (or IF where leak = 0) through the module's `dt`: leak = dt / tau, gain = leak r (dt r
for IF), bias = leak v_leak; it fires on v >= v_th where NIR fires on v > v_threshold.

Ops NIR has no node for (attention, adaptive-threshold spike encoding, gating, norms, ...) are all
listed, with the reason, in one error."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from sbcompile.ir import Module, Op, OpDef, SbirError, Value
from sbcompile.ir.dialects.fixed_seq import FixedGLA, FixedWindowAttention
from sbcompile.ir.dialects.io import Input, Param
from sbcompile.ir.dialects.layers import AvgPool2d, Conv1d, Conv2d, Delay, Flatten, ScaleBy, SumPool2d
from sbcompile.ir.dialects.neuron import LIF, LoihiLIF, SigmaDelta, Threshold
from sbcompile.ir.dialects.nn import (Add, Embed, FakeQuant, LogSigmoid, Mul, ReLU, RMSNorm, Route, Scale, Sigmoid,
                                      SiLU)
from sbcompile.ir.dialects.seq import GLA, RoPE, WindowAttention
from sbcompile.ir.dialects.spike import Decode, Encode
from sbcompile.ir.dialects.syn import Dense

from .nir_import import NEURONS
from .nir_versions import choose_version, for_version, show, write_file

NEURON_KIND: dict[type[OpDef], str] = {op: kind for kind, (op, _) in NEURONS.items()}

# Op classes NIR has no node for, with the reason the error gives.
WHY_NOT: dict[type[OpDef], str] = {
    GLA: "gated linear attention (input-dependent decay) has no NIR node",
    FixedGLA: "gated linear attention (input-dependent decay) has no NIR node",
    WindowAttention: "attention (softmax over a dynamic matmul) has no NIR node",
    FixedWindowAttention: "attention (softmax over a dynamic matmul) has no NIR node",
    RoPE: "rotary embedding has no NIR node",
    Encode: "adaptive thresholds (V_th = mean|x| / k per token) have no NIR node",
    Mul: "NIR cannot multiply two signals",
    Route: "mixture-of-experts routing has no NIR node",
    Embed: "embedding lookup has no NIR node",
    RMSNorm: "normalisation has no NIR node",
    Param: "a weight as a value has no NIR node",
    SigmaDelta: "sigma-delta neurons (graded spikes of changes) have no NIR node",
    **{cls: "no NIR node for this op" for cls in (ReLU, SiLU, Sigmoid, LogSigmoid, FakeQuant, LoihiLIF)},
}


def _arr(v: Any) -> Any:
    """An sbir geometry parameter as NIR holds it: ints stay ints, tuples become arrays."""
    return np.array(v) if isinstance(v, tuple) else v


def step_shape(v: Value) -> tuple:
    return tuple(v.type.shape[1:])


# ---- one NIR node per op: a builder per op class, `(nir, op, weight, dt) -> node` ----

def _dense(nir: Any, op: Op, w: Any, dt: Any) -> Any:
    p = op.params
    return nir.Linear(weight=w(p.weight)) if p.bias is None else nir.Affine(weight=w(p.weight), bias=w(p.bias))


def _conv(nir: Any, op: Op, w: Any, dt: Any) -> Any:
    p = op.params
    cls = nir.Conv1d if op.isa(Conv1d) else nir.Conv2d
    bias = w(p.bias) if p.bias is not None else np.zeros(p.out_channels, np.float32)
    return cls(input_shape=_arr(p.input_shape), weight=w(p.weight), stride=_arr(p.stride),
               padding=_arr(p.padding), dilation=_arr(p.dilation), groups=p.groups, bias=bias)


def _pool(nir: Any, op: Op, w: Any, dt: Any) -> Any:
    p = op.params
    cls = nir.SumPool2d if op.isa(SumPool2d) else nir.AvgPool2d
    stride = p.kernel_size if p.stride is None else p.stride
    return cls(kernel_size=_arr(p.kernel_size), stride=_arr(stride), padding=_arr(p.padding))


def _neuron(nir: Any, op: Op, w: Any, dt: Any) -> Any:
    kind = NEURON_KIND[type(op.opdef)]
    fields = [f for f in NEURONS[kind][1] if getattr(op.params, f) is not None]  # no v_reset: reset by subtraction
    return getattr(nir, kind)(**{f: w(getattr(op.params, f)) for f in fields})


NodeBuilder = Callable[[Any, Op, Callable[[str], np.ndarray], Any], Any]

NODES: dict[type[OpDef], NodeBuilder] = {
    Dense: _dense,
    Conv1d: _conv,
    Conv2d: _conv,
    Flatten: lambda nir, op, w, dt: nir.Flatten(input_type={"input": np.array(step_shape(op.operands[0]))},
                                                start_dim=op.params.start_dim, end_dim=op.params.end_dim),
    SumPool2d: _pool,
    AvgPool2d: _pool,
    ScaleBy: lambda nir, op, w, dt: nir.Scale(scale=w(op.params.weight)),
    Scale: lambda nir, op, w, dt: nir.Scale(scale=np.full(step_shape(op.result), op.params.factor, np.float32)),
    Threshold: lambda nir, op, w, dt: nir.Threshold(threshold=w(op.params.threshold)),
    Delay: lambda nir, op, w, dt: nir.Delay(delay=w(op.params.delay)),
    LIF: lambda nir, op, w, dt: _discrete_lif(op.params, step_shape(op.result), dt),
    **{cls: _neuron for cls in NEURON_KIND},
}

# Ops that are edges, not nodes: a sum is several edges into one node; decoding unit spikes is
# the identity.
FAN_IN: tuple[type[OpDef], ...] = (Add, Decode)


def to_nir(module: Module) -> Any:
    """The module as a `nir.NIRGraph`; SbirError naming every op NIR cannot express."""
    return build_nir(module)[0]


def build_nir(module: Module) -> tuple[Any, dict[str, tuple[str, str | None]]]:
    """The module as a `nir.NIRGraph`, and each node's NIR type and reset ("value", "subtract" or
    None), which decide the NIR versions that can hold it (nir_versions.choose_version)."""
    import nir

    w = module.weights
    dt = module.attrs.get("dt")
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    sources: dict[str, list[str]] = {}  # value name -> NIR nodes whose outputs sum to it
    unit_spikes: set[str] = set()  # values that are unit spikes of a neuron (decoding is the identity)
    problems: list[str] = []
    taken: set[str] = set()
    meaning: dict[str, tuple[str, str | None]] = {}

    def node_name(op: Any, base: str | None = None) -> str:
        base = base or str(op.attrs.get("nir.node", op.results[0].name))
        name, i = base, 1
        while name in taken:
            name, i = f"{base}_{i}", i + 1
        taken.add(name)
        return name

    spiking = (*NEURON_KIND, LIF, Threshold)
    for op in module.ops:  # first every reason, before any weight is read (weights may be fake)
        why = _why_not(op, dt, unit_spikes)
        if why is not None:
            problems.append(f"%{op.results[0].name} ({op.name}: {why})")
        elif op.isa(*spiking):
            unit_spikes.add(op.results[0].name)
    if problems:
        raise SbirError(f"module @{module.name}: NIR cannot express {len(problems)} op(s): " + "; ".join(problems))
    for op in module.ops:
        res = op.results[0].name
        srcs = [s for v in op.operands for s in sources.get(v.name, [])]
        if op.isa(*FAN_IN):
            sources[res] = srcs
            continue
        if op.isa(Input):
            name = str(op.params.name)
            taken.add(name)
            nodes[name] = nir.Input(input_type={"input": np.array(step_shape(op.results[0]))})
            sources[res] = [name]
            continue
        node = NODES[type(op.opdef)](nir, op, w.get, dt)
        name = node_name(op)
        nodes[name] = node
        edges.extend((s, name) for s in srcs)
        sources[res] = [name]
        meaning[name] = (type(node).__name__, _reset_of(op))
        edges.extend(_recurrent_projection(op, name, nodes, node_name, w))
    names = module.attrs.get("nir.outputs")
    if not (isinstance(names, tuple) and len(names) == len(module.outputs)):
        names = tuple("output" if i == 0 else f"output_{i}" for i in range(len(module.outputs)))
    for name, v in zip(names, module.outputs):
        name = str(name)
        nodes[name] = nir.Output(output_type={"output": np.array(step_shape(v))})
        edges.extend((s, name) for s in sources[v.name])
    metadata = {"dt": float(dt)} if isinstance(dt, (int, float)) else {}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False), meaning


def _reset_of(op: Op) -> str | None:
    """How a firing neuron op resets: "value" (to v_reset) or "subtract"; None for other ops."""
    if op.isa(LIF):
        return "subtract" if op.params.reset == "subtract" else "value"
    return getattr(op.params, "reset", None) if op.isa(*NEURON_KIND) else None


def _recurrent_projection(op: Op, name: str, nodes: dict[str, Any], node_name: Any, w: Any) -> list[tuple[str, str]]:
    """A recurrent neuron op's rec_weight/rec_bias as the Linear/Affine node of its NIR cycle."""
    import nir

    p = op.params
    if not op.isa(*NEURON_KIND) or p.rec_weight is None:
        return []
    rec = node_name(op, str(op.attrs.get("nir.rec_node", f"{name}.w_rec")))
    nodes[rec] = (nir.Linear(weight=w.get(p.rec_weight)) if p.rec_bias is None
                  else nir.Affine(weight=w.get(p.rec_weight), bias=w.get(p.rec_bias)))
    return [(name, rec), (rec, name)]


def _why_not(op: Op, dt: Any, unit_spikes: set[str]) -> str | None:
    """Why NIR cannot express this op, or None if it can."""
    p = op.params
    if any(not isinstance(d, int) for d in op.results[0].type.shape[1:]):
        return f"symbolic shape {op.results[0].type} (NIR shapes are concrete)"
    if op.isa(Decode):
        return None if op.operands[0].name in unit_spikes else "scaled spike counts have no NIR node"
    if op.isa(Dense) and p.scale is not None:
        return "quantized weights (integer codes with scales) have no NIR node"
    if op.isa(LIF):
        if not isinstance(dt, (int, float)) or dt <= 0:
            return "a discrete-time LIF needs the module attribute dt to become NIR's continuous-time LIF"
        if p.leak == 0 and p.bias != 0:
            return "an integrate-and-fire neuron with a bias has no NIR form"
    if op.isa(Input, *FAN_IN, *NODES):
        return None
    return WHY_NOT.get(type(op.opdef), "no NIR node for this op")


def _discrete_lif(p: Any, shape: tuple, dt: float) -> Any:
    import nir

    def full(x: float) -> np.ndarray:
        return np.full(shape, x, np.float32)

    if p.leak == 0:
        return nir.IF(r=full(p.gain / dt), v_threshold=full(p.v_th), v_reset=full(p.v_reset))
    return nir.LIF(tau=full(dt / p.leak), r=full(p.gain / p.leak), v_leak=full(p.bias / p.leak),
                   v_threshold=full(p.v_th), v_reset=full(p.v_reset))


def nir_version_for(module: Module, version: str | None = None) -> str:
    """The NIR version `--emit nir` writes: `version` if the graph keeps its meaning there, else
    (none given) the oldest that does; SbirError naming the nodes that cannot."""
    _, meaning = build_nir(module)
    return show(choose_version(meaning, version, f"module @{module.name}"))


def write_nir(module: Module, path: str | Path, version: str | None = None) -> str:
    """Write the module as a NIR file in the form of `version` (see nir_version_for); returns the
    version written."""
    graph, meaning = build_nir(module)
    v = choose_version(meaning, version, f"module @{module.name}")
    try:
        write_file(path, for_version(graph.to_dict(), v), show(v))
    except Exception as e:
        raise SbirError(f"{path}: cannot write NIR ({type(e).__name__}: {e})") from None
    return show(v)
