"""Runs a module on the GPU (or on CPU tensors in Triton's interpreter, TRITON_INTERPRET=1): each op
through its generated kernel (lower.py), its PyTorch form (torch_ops.py), or, for ops with neither,
its numpy reference semantics on the host. Prefill and decode share one call; stateful ops keep
their state between calls, as in the reference interpreter."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np
import torch

from sbcompile.ir import Module, SbirError
from sbcompile.ir.activity import SpikeStats, total
from sbcompile.ir.dialects.io import Input
from sbcompile.ir.interpreter import Interpreter
from sbcompile.ir.runtime import SpikeArray

from . import lower
from .executor import Silu
from .torch_ops import TORCH_OPS, OpState, TorchSpikes, saturate


def default_device() -> str:
    if os.environ.get("TRITON_INTERPRET") == "1" or not torch.cuda.is_available():
        return "cpu"
    return "cuda"


def load_source(text: str, filename: str) -> ModuleType:
    mod = ModuleType(Path(filename).stem)
    mod.__file__ = filename
    exec(compile(text, filename, "exec"), mod.__dict__)
    return mod


class _RefContext:
    """The EvalContext of an op run through its numpy reference."""

    def __init__(self, session: "CudaSession", index: int) -> None:
        self.s, self.index, self.position = session, index, session.position

    def weight(self, name: str) -> np.ndarray:
        return self.s.module.weights.get(name)

    def state(self) -> dict[str, Any]:
        return self.s.states.setdefault(self.index, {})

    def input(self, name: str) -> Any:
        return self.s.inputs[name]

    def record(self, key: str, value: Any) -> None:
        facts = self.s.records.setdefault(self.s.module.ops[self.index].results[0].name, {})
        facts[key] = facts.get(key, 0) + value


def to_numpy(v: Any) -> Any:
    if isinstance(v, TorchSpikes):
        return SpikeArray(v.counts.cpu().numpy(), None if v.scale is None else v.scale.cpu().numpy())
    if isinstance(v, torch.Tensor):
        return v.cpu().numpy()
    return v


class CudaInterpreter(Interpreter):
    """The reference interpreter's loop with each op run through its kernel or PyTorch form
    (`run_op` is the override point); spike statistics come from the GPU's counts."""

    def __init__(self, session: "CudaSession", **kwargs: Any) -> None:
        self.session = session
        super().__init__(session.module, **kwargs)

    def run_op(self, index: int, op: Any, d: Any, args: list[Any]) -> list[Any]:
        s = self.session
        s.position, s.inputs = self.position, self.inputs
        step = s.steps[index]
        try:
            outs = s._run_op(step, d, args)
        except SbirError:
            raise
        except Exception as e:
            raise SbirError(f"{d.name} (%{step.result}) on target cuda failed: {type(e).__name__}: {e}", op.where()) from e
        if self.record_activity:
            for r, value in zip(op.results, outs):
                if isinstance(value, TorchSpikes):
                    stats = self.activity.get(r.name)
                    if stats is None:
                        stats = self.activity[r.name] = SpikeStats(value.counts.shape[-1])
                    stats.add(value.counts.cpu().numpy())
        return outs


class CudaSession:
    """The op-by-op correctness path (the compiled plan, executor.py, is the fast one)."""

    def __init__(self, module: Module, *, target: str = "cuda", flavour: str = "cuda", artifact: Path | None = None,
                 device: str | None = None, record_activity: bool = True,
                 observer: Callable[[Any, list, list], None] | None = None) -> None:
        self.module = module
        self.flavour = flavour
        self.device = device or default_device()
        self.steps = lower.plan(module)
        self.kernels: dict[int, ModuleType] = {}
        for s in self.steps:
            if s.source:
                path = artifact / s.source if artifact is not None else None
                text = path.read_text() if path is not None and path.exists() else lower.source(s, target, flavour)
                self.kernels[s.index] = load_source(text, str(path or s.source))
        self.defs = [op.opdef for op in module.ops]
        self._weights: dict[tuple[str, str], torch.Tensor] = {}
        inputs = module.inputs
        self.input_name = inputs[0].params.name if len(inputs) == 1 else None
        self.interp = CudaInterpreter(self, record_activity=record_activity, observer=self._observe(observer))
        self.reset()

    @staticmethod
    def _observe(observer: Callable | None) -> Callable | None:
        """The observer sees every op but a fused one (its value is computed by a later kernel)."""
        if observer is None:
            return None
        return lambda op, args, outs: None if isinstance(outs[0], Silu) else observer(op, args, outs)

    def reset(self) -> None:
        self.interp.reset()
        self.states = self.interp.states
        self.position = 0
        self.records: dict[str, dict[str, Any]] = {}
        self.inputs: dict[str, Any] = {}
        self.kernel_calls: dict[str, int] = {}

    # weights, converted once per form
    def weight(self, name: str, form: str = "t") -> torch.Tensor:
        key = (name, form)
        if key not in self._weights:
            w = np.asarray(self.module.weights.get(name))
            t = torch.from_numpy(np.ascontiguousarray(w)).to(self.device)
            if form == "i8":
                if w.min(initial=0) < -128 or w.max(initial=0) > 127:
                    t = None
                else:
                    t = t.to(torch.int8)
            elif form == "f32":
                t = t.to(torch.float32)
            self._weights[key] = t
        return self._weights[key]

    def _count(self, kernel: str) -> None:
        self.kernel_calls[kernel] = self.kernel_calls.get(kernel, 0) + 1

    def __call__(self, tokens: np.ndarray | None = None, **inputs: Any) -> np.ndarray:
        if tokens is not None:
            if self.input_name is None or len(self.module.outputs) != 1:
                raise SbirError(f"module @{self.module.name}: `run` drives modules with one input and one output")
            inputs = {self.input_name: tokens}
        outs = self.run(**inputs)
        return to_numpy(outs[0]) if len(outs) == 1 else [to_numpy(o) for o in outs]

    def run(self, **inputs: Any) -> list[Any]:
        with torch.no_grad():
            outs = self.interp(**inputs)
        self.position = self.interp.position
        return outs

    def run_one(self, index: int, args: list[Any], env: dict[str, Any] | None = None) -> list[Any]:
        """Run op `index` alone on the given numpy inputs (SpikeArray for spikes) from fresh state,
        as the first chunk of a sequence; returns numpy results. `env` holds other values by name
        (a fused silu_mul reads silu's input from it). For per-op differential tests."""
        saved = self.states, self.position
        self.states, self.position = {}, 0
        self.env = {k: self._from_numpy(v) for k, v in (env or {}).items()}
        try:
            step = self.steps[index]
            with torch.no_grad():
                outs = self._run_op(step, self.defs[index], [self._from_numpy(a) for a in args])
        finally:
            self.states, self.position = saved
        return [to_numpy(o) for o in outs]

    def _run_op(self, step: lower.Step, d: Any, args: list[Any]) -> list[Any]:
        op, p, kern = step.op, step.op.params, step.kernel
        if op.isa(Input):
            x = self.inputs[p.name]
            t = torch.as_tensor(np.asarray(x), device=self.device)
            return [t.to(torch.float32) if t.is_floating_point() else t]
        state = self.states.setdefault(step.index, {})
        ctx = OpState(lambda name: self.weight(name), state, self.position)
        if kern == "fused":  # the silu of a silu_mul: its input travels to the mul
            return [Silu(args[0])]
        k = self.kernels.get(step.index)
        out = None
        if kern == "spike_encode":
            x = args[0].to(torch.float32)
            counts, vth = k.run(x)
            if step.consts["BOUNDS"] is not None:
                counts = saturate(counts, p, ctx)
            out = TorchSpikes(counts, vth)
            self._count(kern)
        elif kern in ("spike_gemm", "spike_gemm_grouped"):
            out = self._gemm(step, k, args[0])
        elif kern == "gla":
            out = self._gla(step, k, args, state)
        elif kern == "window_attention" and "k" not in state:
            q, kk, v = (a.to(torch.float32) for a in args)
            out = k.run(q, kk, v)
            lower_keep = kk.shape[0] if p.window is None else min(kk.shape[0], p.window - 1)
            state["k"], state["v"] = kk[kk.shape[0] - lower_keep:], v[v.shape[0] - lower_keep:]
            self._count(kern)
        elif kern == "rmsnorm":
            out = k.run(args[0].to(torch.float32).contiguous(), self.weight(p.weight, "f32"))
            self._count(kern)
        elif kern == "silu_mul":
            fused = args[step.consts["SILU_OPERAND"]]
            silu_in = fused.x if isinstance(fused, Silu) else self._silu_input(step)
            other = args[1 - step.consts["SILU_OPERAND"]]
            lhs, rhs = (silu_in, other) if step.consts["SILU_OPERAND"] == 0 else (other, silu_in)
            out = k.run(lhs.to(torch.float32).contiguous(), rhs.to(torch.float32).contiguous())
            self._count(kern)
        if out is None:
            fn = TORCH_OPS.get(type(d)) if kern != "reference" else None
            if fn is not None:
                out = fn(p, args, ctx)
                self._count("torch")
            else:  # the op's numpy reference, on the host
                res = d.evaluate(p, [to_numpy(a) for a in args], _RefContext(self, step.index))
                self._count("reference")
                return [self._from_numpy(r) for r in res]
        for key, n in ctx.records.items():
            facts = self.records.setdefault(step.result, {})
            facts[key] = facts.get(key, 0) + n
        return [out]

    def _from_numpy(self, r: Any) -> Any:
        if isinstance(r, SpikeArray):
            return TorchSpikes(torch.from_numpy(np.ascontiguousarray(r.counts)).to(self.device).to(torch.int32),
                               None if r.scale is None else torch.from_numpy(np.ascontiguousarray(r.scale)).to(self.device))
        return torch.from_numpy(np.ascontiguousarray(r)).to(self.device)

    def _silu_input(self, step: lower.Step) -> torch.Tensor:
        """run_one's silu_mul: silu's input by name from the values it was given."""
        silu_name = step.op.operands[step.consts["SILU_OPERAND"]].name
        silu_op = next(op for op in self.module.ops if op.results and op.results[0].name == silu_name)
        return self.env[silu_op.operands[0].name]

    def _gemm(self, step: lower.Step, k: ModuleType, x: TorchSpikes) -> torch.Tensor | None:
        """The integer GEMM when the counts fit int8 (else None: the exact torch path runs)."""
        p = step.op.params
        w = self.weight(p.weight, "i8")
        if w is None or x.scale is None or x.scale.shape[-1] != 1:
            return None
        if x.counts.numel() and int(x.counts.abs().max()) > 127:
            return None
        s8 = x.counts.to(torch.int8)
        scale = self.weight(p.scale, "f32")
        bias = self.weight(p.bias, "f32") if p.bias is not None else None
        self._count(step.kernel)
        return k.run(s8, w, scale, x.scale, bias)

    def _gla(self, step: lower.Step, k: ModuleType, args: list[Any], state: dict) -> torch.Tensor:
        c = step.consts
        q, kk, v, g = (a.to(torch.float32).contiguous() for a in args)
        s = state.get("S")
        if s is None:
            s = torch.zeros((1, c["HKV"], c["D"], c["D"]), dtype=torch.float32, device=q.device)
        if q.shape[0] == 1:
            o, s = k.decode(q, kk, v, g, s)
            self._count("gla_recurrent")
        else:
            o, s = k.prefill(q, kk, v, g, s)
            self._count("gla_chunked")
        state["S"] = s
        return o

    def activity(self) -> dict[str, Any]:
        stats = self.interp.activity
        per_op = {name: st.summary() for name, st in stats.items()}
        return {"total": total(stats), "ops": per_op, "kernel_calls": dict(self.kernel_calls)}
