"""PyTorch module -> sbir, with torch.fx: model-level modules (a spike encoder, a GLA core, a
projection) are leaves, so each becomes one op rather than a soup of elementwise aten ops. The
walk collects every unsupported op before it fails, naming each with its module path and line."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.fx as fx
import torch.nn.functional as F

from sbcompile.ir import Builder, Location, Module, OpDef, SbirError, Value
from sbcompile.ir.dialects.nn import Add, LogSigmoid, Mul, ReLU, Scale, Sigmoid, SiLU

# A lowering turns one leaf module call into ops: (trace context, module, operands, module path).
Lowering = Callable[["TraceContext", torch.nn.Module, list[Value], str], Value]

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def source_location(node: fx.Node) -> Location | None:
    """The innermost frame of the traced model's source, relative to the project when inside it."""
    trace = node.stack_trace or ""
    frames = [f for f in re.findall(r'File "([^"]+)", line (\d+)', trace) if "/torch/" not in f[0]]
    if not frames:
        return None
    path, line = frames[-1]
    p = Path(path)
    try:
        path = str(p.resolve().relative_to(_PACKAGE_ROOT))
    except ValueError:
        path = p.name
    return Location(path, int(line))


class LeafTracer(fx.Tracer):
    def __init__(self, leaves: tuple[type, ...]) -> None:
        super().__init__()
        self.leaves = leaves
        self.record_stack_traces = True

    def is_leaf_module(self, m: torch.nn.Module, qualname: str) -> bool:
        return isinstance(m, self.leaves)


@dataclass
class TraceContext:
    """What a lowering needs: a builder, the torch module tree, and weight registration."""

    builder: Builder
    root: torch.nn.Module
    strip_prefix: str
    add_weight: Callable[[Module, str, torch.Tensor], None]
    loc: Location | None = None
    base: str = ""
    aliases: dict[str, str] = field(default_factory=dict)  # tied parameters: name -> the name stored

    @property
    def module(self) -> Module:
        return self.builder.module

    def weight(self, path: str) -> str:
        """Register the parameter (or buffer) at `path` (its official name) and return that name."""
        path = self.aliases.get(path, path)
        if path not in self.module.weights:
            try:
                tensor = self.root.get_parameter(path)
            except AttributeError:
                try:
                    tensor = self.root.get_buffer(path)
                except AttributeError:
                    raise SbirError(f"parameter '{path}' not found in the model") from None
            self.add_weight(self.module, path, tensor)
        return path

    def names(self, path: str) -> str:
        """The value-name base of a module path."""
        if path.startswith(self.strip_prefix):
            path = path[len(self.strip_prefix):]
        return re.sub(r"[^A-Za-z0-9_]", "_", path)

    def op(self, kind: str | type[OpDef], operands: list[Value], suffix: str = "", **params: Any) -> Value:
        """Append one op (an `OpDef` class, as `Builder.op` takes), its result named after the module path."""
        result = self.base + (f"_{suffix}" if suffix else "")
        return self.builder.op(kind, operands, result=result or None, loc=self.loc, **params)


def value_base(node: fx.Node, strip_prefix: str) -> str:
    """A readable value name from the module path (`layers_3_attn_q_proj`) or the function."""
    if node.op == "call_module":
        path = str(node.target)
    else:
        stack = node.meta.get("nn_module_stack") or {}
        path = next(reversed(stack.values()))[0] if stack else ""
        path = f"{path}.{node.name}" if path else node.name
    if path.startswith(strip_prefix):
        path = path[len(strip_prefix):]
    return re.sub(r"[^A-Za-z0-9_]", "_", path)


FUNCTIONS: dict[Any, type[OpDef]] = {
    F.relu: ReLU, torch.relu: ReLU, F.silu: SiLU, F.logsigmoid: LogSigmoid,
    torch.sigmoid: Sigmoid, F.sigmoid: Sigmoid,
}


@dataclass
class Unsupported:
    problems: list[str] = field(default_factory=list)
    nodes: set[fx.Node] = field(default_factory=set)

    def add(self, node: fx.Node, what: str) -> None:
        self.nodes.add(node)
        loc = source_location(node)
        stack = node.meta.get("nn_module_stack") or {}
        path = str(node.target) if node.op == "call_module" else (next(reversed(stack.values()))[0] if stack else "<top>")
        self.problems.append(f"{what} in {path or '<top>'}" + (f" at {loc}" if loc else ""))


def trace_module(model: torch.nn.Module, *, name: str, inputs: dict[str, Any], leaves: tuple[type, ...],
                 lowerings: dict[type, Lowering], add_weight: Callable[[Module, str, torch.Tensor], None],
                 strip_prefix: str = "", concrete_args: dict[str, Any] | None = None,
                 attrs: dict[str, Any] | None = None, aliases: dict[str, str] | None = None) -> Module:
    """Trace `model.forward` and lower it. `inputs` maps forward's tensor arguments to their IR
    types; `aliases` names tied parameters by the one name their tensor is stored under."""
    tracer = LeafTracer(leaves)
    try:
        graph = tracer.trace(model, concrete_args=concrete_args)
    except Exception as e:  # fx raises many kinds for untraceable Python
        raise SbirError(f"cannot trace {type(model).__name__}: {type(e).__name__}: {str(e).splitlines()[0]}") from None
    module = Module(name, dict(attrs or {}))
    b = Builder(module)
    env: dict[fx.Node, Any] = {}
    bad = Unsupported()
    outputs: list[Value] = []
    for node in graph.nodes:
        if any(a in bad.nodes for a in node.all_input_nodes):
            bad.nodes.add(node)  # downstream of an unsupported op: report only the cause
            continue
        ctx = TraceContext(b, model, strip_prefix, add_weight, source_location(node), value_base(node, strip_prefix),
                           dict(aliases or {}))
        if node.op == "placeholder":
            if str(node.target).rstrip("_0123456789") in (concrete_args or {}):
                continue  # an argument fixed for tracing (state=None): fx keeps a placeholder for it
            if node.target not in inputs:
                bad.add(node, f"input '{node.target}' has no IR type")
                continue
            env[node] = b.input(str(node.target), inputs[node.target])
        elif node.op == "get_attr":
            continue  # a parameter read outside a leaf: the op that uses it is what gets reported
        elif node.op == "call_module":
            sub = model.get_submodule(str(node.target))
            lower = next((fn for cls, fn in lowerings.items() if type(sub) is cls), None)
            args = _values(node.args, env)
            if lower is None or args is None:
                bad.add(node, f"module {type(sub).__name__}" + ("" if lower is None else " with non-tensor arguments"))
                continue
            try:
                env[node] = lower(ctx, sub, args, str(node.target))
            except SbirError as e:
                bad.add(node, f"module {type(sub).__name__}: {e.message}")
        elif node.op == "call_function" and getattr(node.target, "__name__", "") == "_assert_is_none":
            continue  # fx's guard for a concrete None argument
        elif node.op in ("call_function", "call_method"):
            value = _function(ctx, node, env)
            if value is None:
                target = node.target if node.op == "call_method" else getattr(node.target, "__name__", str(node.target))
                bad.add(node, f"{'method' if node.op == 'call_method' else 'function'} '{target}'")
                continue
            env[node] = value
        elif node.op == "output":
            outputs = _flatten_outputs(node.args[0], env)
    if bad.problems:
        raise SbirError(f"{len(bad.problems)} unsupported op{'s' if len(bad.problems) > 1 else ''} in "
                        f"{type(model).__name__}: " + "; ".join(bad.problems))
    b.output(*outputs)
    return module


def _values(args: tuple, env: dict) -> list[Value] | None:
    out = []
    for a in args:
        if not isinstance(a, fx.Node) or a not in env:
            return None
        out.append(env[a])
    return out


def _flatten_outputs(arg: Any, env: dict) -> list[Value]:
    if isinstance(arg, fx.Node):
        return [env[arg]] if arg in env else []
    if isinstance(arg, (tuple, list)):
        return [v for a in arg for v in _flatten_outputs(a, env)]
    return []  # None and other constants (an absent state) are not outputs


def _function(ctx: TraceContext, node: fx.Node, env: dict) -> Value | None:
    """Elementwise functions and arithmetic between leaves; None if unsupported."""
    target, args = node.target, node.args
    if node.kwargs and target not in (F.relu, F.silu):
        return None
    if target in FUNCTIONS:
        vals = _values(args[:1], env)
        return None if vals is None else ctx.op(FUNCTIONS[target], vals)
    if target in (operator.add, operator.mul, torch.add, torch.mul) and len(args) == 2:
        a, c = args
        if isinstance(a, fx.Node) and isinstance(c, fx.Node) and a in env and c in env:
            return ctx.op(Add if target in (operator.add, torch.add) else Mul, [env[a], env[c]])
        if target in (operator.mul, torch.mul):
            x, k = (a, c) if isinstance(a, fx.Node) else (c, a)
            if isinstance(x, fx.Node) and x in env and isinstance(k, (int, float)):
                return ctx.op(Scale, [env[x]], factor=float(k))
        return None
    if target is operator.neg and len(args) == 1 and isinstance(args[0], fx.Node) and args[0] in env:
        return ctx.op(Scale, [env[args[0]]], factor=-1.0)
    if target is operator.truediv and len(args) == 2:
        x, k = args
        if isinstance(x, fx.Node) and x in env and isinstance(k, (int, float)) and k != 0:
            return ctx.op(Scale, [env[x]], factor=1.0 / float(k))
    return None
