"""Kernel selection and code generation for the `cuda` / `metax` targets: which Triton template runs
each op of a module (or PyTorch, or the numpy reference), and one small generated Python module
per kernel op that binds the template to the op's shapes, constants and flavour.

Nothing here imports torch or triton: the generated sources import the templates when they are
loaded (by `session.py`, or by anyone reading `OUT/kernels/`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sbcompile.ir import Module, Op
from sbcompile.ir.dialects.io import Input
from sbcompile.ir.dialects.nn import Add, Embed, FakeQuant, LogSigmoid, Mul, ReLU, RMSNorm, Route, Scale, Sigmoid, SiLU
from sbcompile.ir.dialects.seq import GLA, RoPE, WindowAttention
from sbcompile.ir.dialects.spike import Decode, Encode
from sbcompile.ir.dialects.syn import Dense
from sbcompile.passes.fuse_silu_mul import INTO, SILU_OPERAND

TEMPLATES = "sbcompile.targets.cuda.kernels"
# op class -> its PyTorch form in torch_ops.py (the session runs any other op's numpy reference)
TORCH_FORMS: dict[type, str] = {
    Embed: "embed", RMSNorm: "rmsnorm", ReLU: "relu", SiLU: "silu", Sigmoid: "sigmoid", LogSigmoid: "logsigmoid",
    Scale: "scale", Add: "add", Mul: "mul", Route: "route", FakeQuant: "fake_quant", Encode: "spike_encode",
    Decode: "spike_decode", Dense: "dense", RoPE: "rope", GLA: "gla", WindowAttention: "window_attention",
}


@dataclass
class Step:
    """How one op runs: `kernel` names the template ("torch": PyTorch, "reference": the op's numpy
    semantics on the host, "fused": computed by a later op's kernel)."""

    index: int
    op: Op
    kernel: str
    consts: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def result(self) -> str:
        return self.op.results[0].name

    @property
    def source(self) -> str | None:
        if self.kernel in ("torch", "reference", "fused"):
            return None
        return f"kernels/{self.index:04d}_{self.result}.py"


def _pow2_16(n: int) -> bool:
    return n >= 16 and n & (n - 1) == 0


def _width(op: Op, i: int = 0) -> Any:
    return op.operands[i].type.shape[-1]


def plan(module: Module) -> list[Step]:
    """The op-by-op session's kernel per op; silu·mul is fused where fuse-silu-mul marked it."""
    producers = {r.name: op for op in module.ops for r in op.results}
    steps: list[Step] = []
    for index, op in enumerate(module.ops):
        p = op.params
        step = Step(index, op, "torch" if op.isa(Input, *TORCH_FORMS) else "reference")
        if op.isa(Encode, RMSNorm) and p.frac_bits is not None:
            step.kernel, step.note = "reference", "integer form (frac_bits): its numpy semantics"
        elif op.isa(Encode) and p.static is None and p.group is None and isinstance(_width(op), int):
            step.kernel = "spike_encode"
            step.consts = {"N": _width(op), "K_ENC": p.k, "VTH_MIN": p.vth_min, "VTH_MAX": p.vth_max,
                           "BOUNDS": _bounds(p)}
        elif op.isa(Dense) and op.operands[0].type.kind == "spikes" and p.scale is not None \
                and p.residual is None and op.attrs.get("quant.bits", 8) <= 8 and isinstance(_width(op), int):
            src = producers.get(op.operands[0].name)
            per_token = src is not None and src.isa(Encode) and src.params.static is None and src.params.group is None
            k = _width(op)
            if per_token and (p.group is None or p.group >= k):
                step.kernel, step.consts = "spike_gemm", {"K": k, "N": p.out_features, "HAS_BIAS": p.bias is not None}
            elif per_token and p.group == 128 and k % 128 == 0:
                step.kernel, step.consts = "spike_gemm_grouped", {"K": k, "N": p.out_features, "HAS_BIAS": p.bias is not None}
            else:
                step.note = "thresholds per channel group or a weight grouping the kernels do not take"
        elif op.isa(GLA) and _pow2_16(p.head_dim):
            step.kernel = "gla"
            step.consts = {"H": p.heads, "HKV": p.kv_heads, "D": p.head_dim, "SCALE": p.scale, "CHUNK": 64}
            step.note = "gla_chunked for prefill, gla_recurrent for one-token decode"
        elif op.isa(WindowAttention) and _pow2_16(p.head_dim) and p.sink_k is None:
            step.kernel = "window_attention"
            step.consts = {"H": p.heads, "HKV": p.kv_heads, "D": p.head_dim, "SCALE": p.scale, "WINDOW": p.window}
            step.note = "the kernel runs a prefill from an empty cache; decode and later chunks run in torch"
        elif op.isa(RMSNorm) and p.weight is not None and isinstance(_width(op), int):
            step.kernel = "rmsnorm"
            step.consts = {"D": _width(op), "GROUP": p.group, "EPS": p.eps}
        elif op.isa(SiLU) and INTO in op.attrs:
            step.kernel, step.note = "fused", f"into %{op.attrs[INTO]} (silu_mul)"
        elif op.isa(Mul) and SILU_OPERAND in op.attrs:
            silu = op.operands[op.attrs[SILU_OPERAND]].name
            step.kernel = "silu_mul"
            step.consts = {"SILU_OPERAND": op.attrs[SILU_OPERAND], "N": _width(op)}
            step.note = f"silu of %{silu} fused"
        steps.append(step)
    return steps


def _bounds(p: Any) -> list[int] | None:
    from sbcompile.ir.dialects.spike import count_range
    b = count_range(p.coding, p.steps)
    return None if b is None else [b[0], b[1]]


_HEADER = '''"""Generated by sbcompile (target {target}) for op {index}: %{result} = {opname}.
{note}Do not edit: `sbcompile ... -t {target} -o OUT` writes it again."""

'''

_BODIES = {
    "spike_encode": '''from {pkg}.spike_encode import spike_encode as _kernel

{consts}

def run(x):
    """x f32 [T, N] -> (counts int32 [T, N], V_th f32 [T, 1])."""
    assert x.shape[-1] == N
    return _kernel(x, K_ENC, vth_min=VTH_MIN, vth_max=VTH_MAX, flavour=FLAVOUR)
''',
    "spike_gemm": '''from {pkg}.spike_gemm import spike_gemm as _kernel

{consts}

def run(s, w, scale, vth, bias=None):
    """s int8 [T, K] counts, w int8 [N, K] codes, scale f32 [N, 1], vth f32 [T, 1] -> f32 [T, N]."""
    assert s.shape[-1] == K and tuple(w.shape) == (N, K)
    return _kernel(s, w, scale.reshape(N), vth, bias if HAS_BIAS else None, flavour=FLAVOUR)
''',
    "spike_gemm_grouped": '''from {pkg}.spike_gemm import spike_gemm_grouped as _kernel

{consts}

def run(s, w, scale, vth, bias=None):
    """s int8 [T, K] counts, w int8 [N, K] codes, scale f32 [N, K/128], vth f32 [T, 1] -> f32 [T, N]."""
    assert s.shape[-1] == K and tuple(w.shape) == (N, K)
    return _kernel(s, w, scale, vth, bias if HAS_BIAS else None, flavour=FLAVOUR)
''',
    "gla": '''from {pkg}.gla_chunked import gla_chunked as _prefill
from {pkg}.gla_recurrent import gla_recurrent as _decode

{consts}

def prefill(q, k, v, g, state):
    """q [T, H*D], k/v/g [T, HKV*D], state f32 [1, HKV, D, D] -> (o [T, H*D], new state)."""
    t = q.shape[0]
    o, s = _prefill(q.reshape(1, t, H, D), k.reshape(1, t, HKV, D), v.reshape(1, t, HKV, D),
                    g.reshape(1, t, HKV, D), SCALE, state, chunk=CHUNK, flavour=FLAVOUR)
    return o.reshape(t, H * D), s


def decode(q, k, v, g, state):
    """One token: q [1, H*D], k/v/g [1, HKV*D] -> (o [1, H*D], new state)."""
    o, s = _decode(q.reshape(1, H, D), k.reshape(1, HKV, D), v.reshape(1, HKV, D), g.reshape(1, HKV, D),
                   state, SCALE, inplace=True, flavour=FLAVOUR)
    return o.reshape(1, H * D), s
''',
    "window_attention": '''from {pkg}.window_attention import window_attention as _kernel

{consts}

def run(q, k, v):
    """A prefill from an empty cache: q [T, H*D], k/v [T, HKV*D] -> o [T, H*D]."""
    t = q.shape[0]
    o = _kernel(q.reshape(1, t, H, D), k.reshape(1, t, HKV, D), v.reshape(1, t, HKV, D), WINDOW, SCALE,
                flavour=FLAVOUR)
    return o.reshape(t, H * D)
''',
    "rmsnorm": '''from {pkg}.rmsnorm import rmsnorm as _kernel

{consts}

def run(x, weight):
    """x f32 [T, D] normalised over GROUP channels (None: all D), times weight."""
    assert x.shape[-1] == D
    return _kernel(x, weight, EPS, GROUP, flavour=FLAVOUR)
''',
    "silu_mul": '''from {pkg}.silu_mul import silu_mul as _kernel

{consts}

def run(lhs, rhs):
    """nn.mul(lhs, rhs) where operand SILU_OPERAND is silu's input (silu itself is not computed)."""
    a, b = (lhs, rhs) if SILU_OPERAND == 0 else (rhs, lhs)
    return _kernel(a, b, flavour=FLAVOUR)
''',
}


def source(step: Step, target: str, flavour: str) -> str:
    consts = {"FLAVOUR": flavour, **step.consts}
    text = "\n".join(f"{k} = {v!r}" for k, v in consts.items())
    note = f"{step.note}.\n" if step.note else ""
    return _HEADER.format(target=target, index=step.index, result=step.result, opname=step.op.opdef.name, note=note) + \
        _BODIES[step.kernel].format(pkg=TEMPLATES, consts=text)


def gpu_plan(steps: list[Step], target: str, flavour: str) -> dict[str, Any]:
    ops = []
    for s in steps:
        entry: dict[str, Any] = {"index": s.index, "op": s.op.opdef.name, "result": s.result, "kernel": s.kernel}
        if s.source:
            entry["source"] = s.source
        if s.consts:
            entry["consts"] = s.consts
        if s.note:
            entry["note"] = s.note
        ops.append(entry)
    counts: dict[str, int] = {}
    for s in steps:
        counts[s.kernel] = counts.get(s.kernel, 0) + 1
    return {"target": target, "flavour": flavour, "kernels": dict(sorted(counts.items())), "ops": ops}


def emit(module: Module, out_dir: Path, target: str, flavour: str) -> list[str]:
    steps = plan(module)
    written = []
    (out_dir / "kernels").mkdir(parents=True, exist_ok=True)
    for s in steps:
        if s.source:
            (out_dir / s.source).write_text(source(s, target, flavour))
            written.append(s.source)
    (out_dir / "gpu_plan.json").write_text(json.dumps(gpu_plan(steps, target, flavour), indent=1) + "\n")
    return written + ["gpu_plan.json"]
