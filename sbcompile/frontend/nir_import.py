"""NIR -> sbir. A NIR graph (the `nir` package's HDF5 file or an in-memory `nir.NIRGraph`) becomes
one flat module in topological order:

  Input -> io.input (tensor<[seq, *shape], f32>)      Affine/Linear -> syn.dense
  Conv1d/Conv2d -> syn.conv1d/syn.conv2d               Delay -> syn.delay
  Flatten, SumPool2d, AvgPool2d, Scale -> nn.flatten, nn.sum_pool2d, nn.avg_pool2d, nn.scale_by
  IF, LIF, CubaLIF, CubaLI, LI, I, Threshold -> neuron.if, neuron.lif_ct, neuron.cuba_lif,
      neuron.cuba_li, neuron.li, neuron.integrator, neuron.threshold
  Output -> a module output (the names of the Output nodes are the module attribute `nir.outputs`)

Several edges into one node are summed (NIR's fan-in rule): an `nn.add` chain, unit spikes
decoded first. Every op carries its NIR node's name as `nir.node`; every NIR array goes into the
weight store as `<node>.<field>`, unchanged (dtype and shape), so that writing the module back
(nir_export) gives the same graph. NIR has no time step: `dt` comes from the caller (`--dt`),
else from the graph's metadata `dt`, else DEFAULT_DT; it is the module attribute `dt` and a
parameter of every op that depends on it.

Recurrence: a cycle neuron -> Linear/Affine -> the same neuron (snnTorch's RLeaky/RSynaptic,
Rockpool's recurrent weights, the NIR paper's Braille RNN) is cut by one step of delay on the
neuron's output: the projection becomes the neuron op's `rec_weight`/`rec_bias` and feeds
W y[t-1] + b into step t (docs/ir.md, "NIR"). Versions: a file's NIR version decides what an
IF/LIF/CubaLIF without `v_reset` means: files before NIR 1.0.6 (nir_versions.py) reset by
subtracting the threshold, which is what their spec said. Time constants: tau <= 0 is an error,
dt >= tau / 10 a warning naming the node and the ratio. Nodes that cannot be imported (unknown
types, other cycles) are all listed in one error. Nested graphs are inlined first (nir_nested.py),
their nodes named `<subgraph>.<node>`."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from sbcompile.ir import Builder, Module, OpDef, SbirError, Type, Value
from sbcompile.ir.dialects.layers import AvgPool2d, Conv1d, Conv2d, Delay, Flatten, ScaleBy, SumPool2d
from sbcompile.ir.dialects.neuron import IF, LI, CubaLI, CubaLIF, Integrator, LIFContinuous, Threshold
from sbcompile.ir.dialects.nn import Add
from sbcompile.ir.dialects.spike import Decode
from sbcompile.ir.dialects.syn import Dense

from .nir_nested import flatten
from .nir_versions import file_facts, show, subtract_reset_nodes, V_RESET_SINCE

DEFAULT_DT = 1e-4  # the step snnTorch's NIR export assumes, and Lava-dl's NIR import default

# NIR node type -> (sbir op, NIR array fields that become weight-store entries)
NEURONS: dict[str, tuple[type[OpDef], tuple[str, ...]]] = {
    "IF": (IF, ("r", "v_threshold", "v_reset")),
    "LIF": (LIFContinuous, ("tau", "r", "v_leak", "v_threshold", "v_reset")),
    "CubaLIF": (CubaLIF, ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in")),
    "CubaLI": (CubaLI, ("tau_syn", "tau_mem", "r", "v_leak", "w_in")),
    "LI": (LI, ("tau", "r", "v_leak")),
    "I": (Integrator, ("r",)),
}
SUPPORTED = {"Input", "Output", "Affine", "Linear", "Conv1d", "Conv2d", "Flatten", "SumPool2d", "AvgPool2d",
             "Scale", "Threshold", "Delay", *NEURONS}


def _array(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor left in an in-memory graph
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _int_or_tuple(v: Any) -> Any:
    """NIR's int-or-array geometry fields as sbir parameters (int, tuple of ints, str or None)."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    a = _array(v)
    if a.dtype.kind in "SU":
        return str(a.item().decode() if isinstance(a.item(), bytes) else a.item())
    if a.ndim == 0:
        return int(a)
    return tuple(int(x) for x in a.ravel())


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_$-]", "_", name) or "node"  # no dots: Lava process names split on them


def _shape(t: Any) -> tuple[int, ...] | None:
    """The shape in a NIR input_type/output_type dict (one port), or None."""
    if isinstance(t, dict):
        t = next(iter(t.values()), None) if t else None
    if t is None:
        return None
    a = _array(t)
    return tuple(int(x) for x in a.ravel())


def read_graph(path: str | Path) -> Any:
    import nir

    if not Path(path).is_file():
        raise SbirError(f"{path}: no such file")
    try:
        return nir.read(str(path))
    except Exception:  # NIR's own type inference fails on some valid graphs (pooling): ours runs later
        pass
    try:
        return nir.read(str(path), type_check=False)
    except Exception as e:  # h5py / NIR raise many types for a bad or foreign file
        raise SbirError(f"{path}: not a readable NIR file ({type(e).__name__}: {e})") from None


def load_nir(path: str | Path, dt: float | None = None) -> Module:
    """A `.nir` file as an (unverified) module, read by the rules of the NIR version that wrote it."""
    path = Path(path)
    graph = read_graph(path)
    facts = file_facts(path)
    subtract = subtract_reset_nodes(facts, str(path))
    module = from_nir(graph, name=_safe_name(path.stem), dt=dt, source=str(path), subtract=subtract)
    if facts.version is not None:
        module.attrs["nir.version"] = facts.version
    if subtract:
        module.attrs["nir.reset"] = (f"NIR {facts.version} predates v_reset ({show(V_RESET_SINCE)}): "
                                     f"{len(subtract)} neuron(s) reset by subtracting v_threshold")
        warnings.warn_explicit(f"{module.attrs['nir.reset']} ({', '.join(sorted(subtract)[:5])}"
                               f"{', ...' if len(subtract) > 5 else ''}), as the spec of that version says",
                               OldResetWarning, str(path), 0)
    return module


class OldResetWarning(UserWarning):
    """A file from before NIR 1.0.6 is read with reset by subtraction (nir >= 1.0.6 would read zero)."""


def _cycles(nodes: list[str], succ: dict[str, list[str]]) -> list[list[str]]:
    """The node sets of the directed cycles (strongly connected components of size > 1, or
    self-loops), each in the graph's node order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:  # Tarjan; graphs here are small, recursion depth is fine
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in succ[v]:
                out.append(sorted(comp, key=nodes.index))

    for v in nodes:
        if v not in index:
            strong(v)
    return out


RECURRENT_PROJECTIONS = ("Linear", "Affine")


def _recurrent_loops(graph: Any, nodes: list[str], preds: dict[str, list[str]], succ: dict[str, list[str]],
                     problems: list[str]) -> dict[str, str]:
    """neuron -> its recurrent projection, for each cycle NIR neuron -> Linear/Affine -> the same
    neuron where the projection has no other edge; every other cycle is a problem. The accepted
    projections' edges are taken out of `preds`/`succ`."""
    loops: dict[str, str] = {}
    for comp in _cycles(nodes, succ):
        kinds = {n: type(graph.nodes[n]).__name__ for n in comp}
        neuron = next((n for n in comp if kinds[n] in NEURONS), None)
        proj = next((n for n in comp if kinds[n] in RECURRENT_PROJECTIONS), None)
        if len(comp) == 2 and neuron and proj and preds[proj] == [neuron] and succ[proj] == [neuron]:
            loops[neuron] = proj
            preds[neuron] = [p for p in preds[neuron] if p != proj]
            succ[neuron] = [q for q in succ[neuron] if q != proj]
            preds[proj], succ[proj] = [], []
            continue
        names = ", ".join(f"'{n}' ({kinds[n]})" for n in comp)
        problems.append(f"cycle through {names}: the recurrence sbcompile imports is a neuron -> Linear/Affine -> "
                        "the same neuron, the projection with no other edges")
    return loops


def _topological(nodes: list[str], preds: dict[str, list[str]], succ: dict[str, list[str]]) -> list[str]:
    """Kahn's order; among ready nodes, the graph's own node order first (deterministic)."""
    rank = {n: i for i, n in enumerate(nodes)}
    missing = {n: len(set(preds[n])) for n in nodes}
    ready = sorted((n for n in nodes if missing[n] == 0), key=rank.get)
    order: list[str] = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for s in dict.fromkeys(succ[n]):
            missing[s] -= 1
            if missing[s] == 0:
                ready.append(s)
                ready.sort(key=rank.get)
    return order


def from_nir(graph: Any, name: str = "nir", dt: float | None = None, source: str = "NIR graph",
             subtract: frozenset[str] = frozenset()) -> Module:
    """An in-memory `nir.NIRGraph` as an (unverified) module; see the module docstring. `subtract`
    names the IF/LIF/CubaLIF nodes that reset by subtracting the threshold (an old file's)."""
    if dt is None:
        meta_dt = (getattr(graph, "metadata", None) or {}).get("dt")
        dt = float(np.asarray(meta_dt).item()) if meta_dt is not None else DEFAULT_DT
    if not dt > 0:
        raise SbirError(f"{source}: dt must be positive, got {dt}")
    graph = flatten(graph)
    nodes = list(graph.nodes)
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    problems: list[str] = []
    for a, b in graph.edges:
        if a not in preds or b not in preds:
            problems.append(f"edge {a} -> {b} names a node the graph does not have")
            continue
        preds[b].append(a)
        succ[a].append(b)
    for n in nodes:
        kind = type(graph.nodes[n]).__name__
        if kind not in SUPPORTED:
            problems.append(f"'{n}' ({kind}: no sbir op)")
    loops = _recurrent_loops(graph, nodes, preds, succ, problems)
    projections = set(loops.values())
    for n in nodes:
        kind = type(graph.nodes[n]).__name__
        if kind == "Input" and preds[n]:
            problems.append(f"'{n}' (Input: has incoming edges)")
        elif kind not in ("Input", "NIRGraph") and not preds[n] and kind in SUPPORTED and n not in projections:
            problems.append(f"'{n}' ({kind}: has no input edge)")
    if problems:
        raise SbirError(f"{source}: cannot import {len(problems)} NIR node(s)/edge(s): " + "; ".join(problems)
                        + f" (supported node types: {', '.join(sorted(SUPPORTED))})")

    module = Module(name, {"dt": dt})
    b = Builder(module)
    env: dict[str, Value] = {}
    outputs: list[tuple[str, Value]] = []
    for n in _topological([n for n in nodes if n not in projections], preds, succ):
        node = graph.nodes[n]
        kind = type(node).__name__
        try:
            if kind == "Input":
                shape = _shape(node.input_type)
                if shape is None:
                    raise SbirError(f"{source}: Input '{n}' has no shape")
                env[n] = b.input(n, Type("tensor", ("seq", *shape), "f32"), result=_safe_name(n))
                continue
            x = _fan_in(b, n, [env[p] for p in preds[n]])
            if kind == "Output":
                outputs.append((n, x))
                continue
            env[n] = _convert(b, module, n, kind, node, x, dt, n in subtract)
            if n in loops:
                _close_loop(module, env[n].owner, loops[n], graph.nodes[loops[n]])
            check_time_constants(module, env[n].owner, source)
        except SbirError as e:
            raise SbirError(f"{source}: node '{n}' ({kind}): {e.message}") from None
    outputs.sort(key=lambda o: nodes.index(o[0]))
    b.output(*(v for _, v in outputs))
    module.attrs["nir.outputs"] = tuple(n for n, _ in outputs)
    return module


def _fan_in(b: Builder, n: str, xs: list[Value]) -> Value:
    if len(xs) == 1:
        return xs[0]
    total = None
    for x in xs:
        if x.type.kind == "spikes":
            x = b.op(Decode, [x], result=f"{_safe_name(n)}.in", attrs={"nir.fanin": n})
        total = x if total is None else b.op(Add, [total, x], result=f"{_safe_name(n)}.sum", attrs={"nir.fanin": n})
    return total


def _convert(b: Builder, m: Module, n: str, kind: str, node: Any, x: Value, dt: float, subtract: bool) -> Value:
    def weight(field: str) -> str:
        key = f"{n}.{field}"
        m.weights.add(key, _array(getattr(node, field)))
        return key

    common = {"result": _safe_name(n), "attrs": {"nir.node": n}}
    if kind in ("Affine", "Linear"):
        w = _array(node.weight)
        return b.op(Dense, [x], weight=weight("weight"), bias=weight("bias") if kind == "Affine" else None,
                    out_features=int(w.shape[0]), **common)
    if kind in ("Conv1d", "Conv2d"):
        w = _array(node.weight)
        bias = getattr(node, "bias", None)
        return b.op(Conv1d if kind == "Conv1d" else Conv2d, [x], weight=weight("weight"),
                    bias=weight("bias") if bias is not None else None, out_channels=int(w.shape[0]),
                    kernel=tuple(int(k) for k in w.shape[2:]), stride=_int_or_tuple(node.stride),
                    padding=_int_or_tuple(node.padding), dilation=_int_or_tuple(node.dilation),
                    groups=int(node.groups), input_shape=_int_or_tuple(node.input_shape), **common)
    if kind == "Flatten":
        return b.op(Flatten, [x], start_dim=int(node.start_dim), end_dim=int(node.end_dim), **common)
    if kind in ("SumPool2d", "AvgPool2d"):
        return b.op(SumPool2d if kind == "SumPool2d" else AvgPool2d, [x],
                    kernel_size=_int_or_tuple(node.kernel_size), stride=_int_or_tuple(node.stride),
                    padding=_int_or_tuple(node.padding), **common)
    if kind == "Scale":
        return b.op(ScaleBy, [x], weight=weight("scale"), **common)
    if kind == "Threshold":
        return b.op(Threshold, [x], threshold=weight("threshold"), **common)
    if kind == "Delay":
        return b.op(Delay, [x], delay=weight("delay"), dt=dt, **common)
    op, fields = NEURONS[kind]
    if subtract:  # an old file's neuron without v_reset (the zeros nir fills in are not the file's)
        fields = tuple(f for f in fields if f != "v_reset")
        common["reset"] = "subtract"
    return b.op(op, [x], dt=dt, **{f: weight(f) for f in fields}, **common)


def _close_loop(m: Module, op: Any, proj: str, node: Any) -> None:
    """The recurrent projection `proj` becomes the neuron op's rec_weight (and rec_bias)."""
    update = {"rec_weight": f"{proj}.weight"}
    m.weights.add(update["rec_weight"], _array(node.weight))
    if type(node).__name__ == "Affine":
        update["rec_bias"] = f"{proj}.bias"
        m.weights.add(update["rec_bias"], _array(node.bias))
    op.params = op.params.model_copy(update=update)
    op.attrs["nir.rec_node"] = proj


class TimeStepWarning(UserWarning):
    """dt is large against a neuron's time constant: forward Euler is then far from the ODE."""


TAU_FIELDS = ("tau", "tau_mem", "tau_syn")


def check_time_constants(module: Module, op: Any, source: str) -> None:
    """tau <= 0 is an error; dt > tau / 10 a TimeStepWarning naming the node and dt / tau."""
    fields = [f for f in TAU_FIELDS if isinstance(getattr(op.params, f, None), str)]
    if not fields or "dt" not in type(op.params).model_fields:
        return
    node = op.attrs.get("nir.node", op.results[0].name)
    dt = float(op.params.dt)
    smallest: tuple[float, str] | None = None
    for f in fields:
        tau = np.asarray(module.weights.get(getattr(op.params, f)), np.float64)
        if tau.size == 0:
            continue
        if not np.all(tau > 0):
            raise SbirError(f"{f} must be positive, got {float(tau.min()):g} (a time constant in seconds)")
        smallest = min(smallest or (float(tau.min()), f), (float(tau.min()), f))
    if smallest is None or dt <= smallest[0] / 10 * (1 + 1e-6):  # snnTorch's beta = 0.9 is exactly tau/10
        return
    tau, f = smallest
    ratio = dt / tau
    what = "Euler steps this large overshoot the ODE" if ratio >= 1 else "Euler steps above tau/10 drift from the ODE"
    warnings.warn_explicit(f"node '{node}' ({op.name}): dt = {dt:g} s is {ratio:.3g} x its smallest {f} ({tau:g} s); "
                           f"{what} (a units mistake? NIR time constants are in seconds; --dt sets the step)",
                           TimeStepWarning, source, 0)


def set_dt(module: Module, dt: float) -> int:
    """Re-discretise: every op with a `dt` parameter, and the module's `dt`, get this step. Returns
    how many ops changed."""
    if not dt > 0:
        raise SbirError(f"--dt must be positive, got {dt}")
    module.attrs["dt"] = float(dt)
    n = 0
    for op in module.ops:
        if "dt" in type(op.params).model_fields:
            op.params = op.params.model_copy(update={"dt": float(dt)})
            check_time_constants(module, op, f"--dt {dt:g}")
            n += 1
    return n
