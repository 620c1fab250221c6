"""Runs a compiled plan (plan.py) on the GPU: weights converted once into the kernels' forms
(int8 codes, one float32 scale per row, fused GEMMs' weights concatenated), activations in bf16
(float32 on the CPU, where Triton's interpreter has no bf16 dot), position-wise segments run in
token chunks, the sequence mixers over the whole sequence, and decode steps captured as one CUDA
graph. Prefill and decode share `__call__`; states persist between calls as in the interpreter.

Where it differs from the interpreter (the correctness session, session.py, does not):
activations are bf16 on the GPU; spike counts saturate at ±127 (int8); the per-head spike coding of
the SWA query divides in float32 instead of float64; RoPE angles are computed on the device."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from sbcompile.ir import Module, SbirError
from sbcompile.ir.activity import SpikeStats, total
from sbcompile.models.random_weights import SEED_ATTR, random_weight
from sbcompile.passes.fuse_activation import ACTIVATION_OF
from sbcompile.passes.fuse_encode import ENCODED_BY
from sbcompile.passes.fuse_projections import ATTR as GEMM_GROUP
from sbcompile.passes.fuse_residual import EPILOGUE_OF, RESIDUAL
from sbcompile.passes.fuse_silu_mul import INTO, SILU_OPERAND
from sbcompile.passes.fuse_swiglu import SWIGLU

from . import plan as plan_mod
from .kernels.dense_act import ACTS, MAX_K, dense_act
from .kernels.fused_encode import encode_parts, norm_fits, rmsnorm_encode, silu_mul_encode
from .kernels.gla_chunked import gla_chunked
from .kernels.gla_recurrent import gla_recurrent
from .kernels.group_quant import group_quant
from .kernels.rmsnorm import rmsnorm
from .kernels.rope import rope as rope_kernel
from .kernels.silu_mul import silu_mul
from .kernels.spike_encode import spike_encode_int8
from .kernels.spike_gemm import spike_gemm, spike_gemm_grouped, spike_gemm_swiglu
from .kernels.spike_gemv import spike_gemv
from .kernels.swiglu import interleave
from .kernels.window_attention import window_attention
from .kernels.window_decode import window_decode
from .torch_ops import count_bounds

F32 = torch.float32
CHUNK = 32768
NO_BOUND = 3.0e38


@dataclass
class Spikes:
    """Spike counts and their thresholds: int8 counts with V_th [T, 1] (per token), or float counts
    with V_th [T, groups, 1] (per channel group, SWA's query coding)."""

    counts: torch.Tensor
    vth: torch.Tensor

    def rows(self, a: int, b: int) -> "Spikes":
        return Spikes(self.counts[a:b], self.vth[a:b])


@dataclass
class Silu:
    """An nn.silu fused into its mul (fuse-silu-mul): holds the silu's input."""

    x: torch.Tensor


@dataclass
class Summed:
    """A projection whose epilogue added the residual (fuse-residual): already the add's value."""

    y: torch.Tensor


@dataclass
class Normed:
    """An nn.rmsnorm fused into its encoder (fuse-encode): the norm's input and parameters."""

    x: torch.Tensor
    weight: torch.Tensor
    eps: float
    group: int | None


@dataclass
class SiluMul:
    """A silu·mul fused into its encoder (fuse-encode): SiLU(a) * b, not yet computed."""

    a: torch.Tensor
    b: torch.Tensor


@dataclass
class Swiglu:
    """SiLU(gate) * up computed by the gate/up GEMM's epilogue (fuse-swiglu): h and its partial |h| sums."""

    h: torch.Tensor
    parts: torch.Tensor

    def rows(self, a: int, b: int) -> "Swiglu":
        return Swiglu(self.h[a:b], self.parts[a:b])


def _rows(v: Any, a: int, b: int) -> Any:
    if isinstance(v, Silu):
        return Silu(_rows(v.x, a, b))
    return v.rows(a, b) if isinstance(v, (Spikes, Swiglu)) else v[a:b]


def _relu_only(chain: list[plan_mod.Node]) -> bool:
    """A fused chain a spike GEMM's epilogue applies itself (as a floor)."""
    return len(chain) == 1 and chain[0].rule == "relu"


def _kernel_chain(chain: list[plan_mod.Node]) -> bool:
    """A fused chain dense_act applies: one activation, a scale, or an activation then a scale."""
    rules = [c.rule for c in chain]
    if rules[-1:] == ["scale"]:
        rules = rules[:-1]
    return len(rules) <= 1 and all(r in ACTS for r in rules)


def _default_device() -> str:
    if os.environ.get("TRITON_INTERPRET") == "1" or not torch.cuda.is_available():
        return "cpu"
    return "cuda"


class Executor:
    """Executes one module's plan. `__call__(tokens)` -> float32 logits [T, vocab] as numpy (the
    session interface `sbcompile run` uses); `prefill` / `decode` work on device tensors."""

    def __init__(self, module: Module, *, flavour: str = "cuda", device: str | None = None,
                 dtype: torch.dtype | None = None, chunk: int = CHUNK, graphs: bool = True,
                 record_activity: bool = True) -> None:
        self.module, self.flavour = module, flavour
        self.device = torch.device(device or _default_device())
        self.dtype = dtype or (torch.bfloat16 if self.device.type == "cuda" else F32)
        self.chunk = chunk
        self.graphs = graphs and self.device.type == "cuda"
        self.record_activity = record_activity  # spike statistics of eager runs (a host copy per encode)
        self.segments = plan_mod.build(module)
        self.nodes = [n for s in self.segments for n in s.nodes]
        self.chains = self._chains()
        self.swiglu = self._swiglu()
        self._steps = self._prepare()
        self.encoded = {n.result for s in self.segments for n in s.nodes  # producers an encoder computes
                        if n.op.attrs.get(ENCODED_BY) in {m.result for m in s.nodes}}
        self.seed = module.attrs.get(SEED_ATTR)
        self._weights: dict[tuple, Any] = {}
        self._fan_in = self._fan_ins()
        inputs = module.inputs
        if len(inputs) != 1 or len(module.outputs) != 1:
            raise SbirError(f"module @{module.name}: the cuda plan runs modules with one token input and one output")
        self.input_name = inputs[0].params.name
        where = "cpu, Triton's interpreter" if self.device.type == "cpu" else self.device.type
        self.summary = f"{flavour} plan ({where}, {str(self.dtype)[6:]}, {len(self.segments)} segments)"
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        self.states: dict[int, dict[str, Any]] = {}
        self.position = 0
        self.pos = torch.zeros(1, dtype=torch.long, device=self.device)  # the next position, on the device
        self._graph: tuple | None = None
        self._decodes = 0
        self._capturing = False
        self.stats: dict[str, SpikeStats] = {}

    # ------------------------------------------------------------------ weights
    def _fan_ins(self) -> dict[str, int]:
        fan: dict[str, int] = {}
        for op in self.module.ops:
            p = op.params
            width = op.operands[0].type.shape[-1] if op.operands else 0
            for key in ("weight", "scale", "bias"):
                name = getattr(p, key, None)
                if isinstance(name, str) and isinstance(width, int):
                    fan[name] = width
        return fan

    def _role(self, name: str) -> str:
        for op in self.module.ops:
            p = op.params
            if getattr(p, "scale", None) == name:
                return "scale"
            if getattr(p, "bias", None) == name:
                return "bias"
            if getattr(p, "weight", None) == name:
                if op.isa(plan_mod.Embed):
                    return "embed"
                if op.isa(plan_mod.RMSNorm):
                    return "norm"
                return "codes" if p.scale is not None else "float"
        return "other"

    def raw(self, name: str) -> torch.Tensor:
        """A weight as a device tensor: the stored array, or (shape-only weights of a module with a
        `weights_seed`) drawn here."""
        key = ("raw", name)
        if key not in self._weights:
            entry = self.module.weights.entry(name)
            if entry.fake:
                if self.seed is None:
                    raise SbirError(f"weight '{name}' has no data (a preset traced without weights); compile "
                                    f"`random:PRESET[:SEED]` to run it with seeded random weights")
                t = random_weight(name, entry.shape, entry.dtype, self._role(name), self._fan_in.get(name, 1),
                                  int(self.seed), self.device)
            else:
                t = torch.from_numpy(np.ascontiguousarray(self.module.weights.get(name))).to(self.device)
            self._weights[key] = t
        return self._weights[key]

    def weight(self, name: str, form: str) -> torch.Tensor:
        """`form`: act (activation dtype), f32, i8 (codes), row (float32 scale per output row, [N])."""
        key = (form, name)
        if key not in self._weights:
            w = self.raw(name)
            self._weights[key] = {"act": lambda: w.to(self.dtype), "f32": lambda: w.to(F32).contiguous(),
                                  "i8": lambda: w.to(torch.int8).contiguous(),
                                  "row": lambda: w.to(F32).reshape(-1).contiguous()}[form]()
            if form == "i8":  # codes are read only as int8: drop the drawn or loaded copy
                self._weights.pop(("raw", name), None)
        return self._weights[key]

    def _gemm_weights(self, leader: str) -> tuple:
        """A fused GEMM's concatenated codes, scales and bias (zeros for members without one), its
        members' column blocks, and the epilogue's floor (0 under a member's fused ReLU, else -inf;
        None when no member has one)."""
        key = ("gemm", leader)
        if key not in self._weights:
            members = [n.op for n in self.nodes if n.op.attrs.get(GEMM_GROUP) == leader]
            join = torch.cat
            if leader in self.swiglu:  # gate and up rows interleaved, in that order
                members.sort(key=lambda m: self.swiglu[leader].index(m.results[0].name))
                join = lambda ts: interleave(*ts)
            codes = join([self.weight(m.params.weight, "i8") for m in members])
            scales = [self.weight(m.params.scale, "f32") for m in members]
            grouped = any(s.shape[-1] > 1 for s in scales)
            scale = join(scales).contiguous() if grouped else join([s.reshape(-1) for s in scales])
            bias = None
            if any(m.params.bias is not None for m in members):
                bias = join([self.weight(m.params.bias, "f32").reshape(-1) if m.params.bias is not None else
                             torch.zeros(m.params.out_features, dtype=F32, device=self.device) for m in members])
            blocks, at = [], 0  # (a fuse-swiglu group's rows are interleaved: its blocks go unused)
            for m in members:
                blocks.append((m.results[0].name, at, at + m.params.out_features))
                at += m.params.out_features
                for form, name in (("i8", m.params.weight), ("f32", m.params.scale), ("f32", m.params.bias)):
                    self._weights.pop((form, name), None)  # the members' own copies: only the fused form runs
            relu = [_relu_only(self.chains.get(name, [])) for name, _, _ in blocks]
            floor = None
            if any(relu):
                floor = torch.cat([torch.full((hi - lo,), 0.0 if r else float("-inf"), dtype=F32, device=self.device)
                                   for (_, lo, hi), r in zip(blocks, relu)])
            self._weights[key] = (codes, scale, bias, grouped, blocks, floor)
        return self._weights[key]

    # ------------------------------------------------------------------ running
    def __call__(self, tokens: np.ndarray | None = None, **inputs: Any) -> np.ndarray:
        ids = np.asarray(tokens if tokens is not None else inputs[self.input_name])
        t = torch.as_tensor(ids.astype(np.int64), device=self.device)
        out = self.decode(t) if t.shape[0] == 1 and self.position > 0 else self.prefill(t)
        return out.float().cpu().numpy()

    def prefill(self, ids: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """Run `ids` [T] from the current position; -> the output for every token (or the last)."""
        with torch.no_grad():
            out = self._run(ids, last_only)
        self.position += ids.shape[0]
        self.pos.fill_(self.position)
        return out

    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """One token [1]; on a GPU, the second and later steps replay one CUDA graph of the step."""
        if not self.graphs:
            return self.prefill(ids)
        if self._graph is None and self._decodes >= 1:
            self._capture(ids)
        self._decodes += 1
        if self._graph is None:
            return self.prefill(ids)
        graph, static_ids, static_out = self._graph
        static_ids.copy_(ids)
        graph.replay()
        self.position += 1
        return static_out

    def _step(self, ids: torch.Tensor) -> torch.Tensor:
        out = self._run(ids, False)
        self.pos += 1
        return out

    def _capture(self, ids: torch.Tensor) -> None:
        static_ids = ids.clone()
        saved = {i: {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in s.items()}
                 for i, s in self.states.items()}
        pos = self.pos.clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        self._capturing = True  # neither the warm-up nor the capture counts spikes
        try:
            with torch.no_grad(), torch.cuda.stream(stream):
                self._step(static_ids)  # warm-up on a side stream, as CUDA graphs require
            torch.cuda.current_stream().wait_stream(stream)
            self._restore(saved, pos)
            graph = torch.cuda.CUDAGraph()
            with torch.no_grad(), torch.cuda.graph(graph):
                static_out = self._step(static_ids)
        finally:
            self._capturing = False
        self._restore(saved, pos)
        self._graph = (graph, static_ids, static_out)

    def _restore(self, saved: dict, pos: torch.Tensor) -> None:
        for i, s in saved.items():
            for k, v in s.items():
                if isinstance(v, torch.Tensor):
                    self.states[i][k].copy_(v)
        self.pos.copy_(pos)

    def _run(self, ids: torch.Tensor, last_only: bool) -> torch.Tensor:
        t = ids.shape[0]
        full: dict[str, Any] = {self.module.inputs[0].results[0].name: ids}
        self._t = t
        for si, (seg, steps) in enumerate(zip(self.segments, self._steps)):
            if seg.mixer:
                for fn, n, operands in steps:
                    full[n.result] = fn(n, [full[v] for v in operands], 0)
            else:
                tail = last_only and si == len(self.segments) - 1
                spans = [(t - 1, t)] if tail else [(a, min(a + self.chunk, t)) for a in range(0, t, self.chunk)]
                self._segment(seg, steps, full, spans, t)
            for name in seg.drop:
                full.pop(name, None)
        return full[self.module.outputs[0].name]

    def _swiglu(self) -> dict[str, tuple[str, str]]:
        """Per fused projection whose epilogue computes SwiGLU (fuse-swiglu): its gate and up results."""
        made = {n.result: n for n in self.nodes}
        out = {}
        for n in self.nodes:
            if SWIGLU in n.op.attrs:
                which = n.op.attrs[SILU_OPERAND]
                silu = made[n.op.operands[which].name]
                out[n.op.attrs[SWIGLU]] = (silu.op.operands[0].name, n.op.operands[1 - which].name)
        return out

    def _chains(self) -> dict[str, list[plan_mod.Node]]:
        """Per projection, the activations fuse-activation put into its epilogue, in order."""
        chains: dict[str, list[plan_mod.Node]] = {}
        for n in self.nodes:
            if ACTIVATION_OF in n.op.attrs:
                chains.setdefault(n.op.attrs[ACTIVATION_OF], []).append(n)
        return chains

    def _prepare(self) -> list[list[tuple[Callable, plan_mod.Node, list[str]]]]:
        """Per segment, each op's rule method and operand names, looked up once (a decode step runs
        hundreds of ops: no per-op attribute or class lookups on the way); token inputs left out."""
        out = []
        for seg in self.segments:
            here = {n.result: n for n in seg.nodes}
            steps = []
            for n in seg.nodes:
                if n.op.isa(plan_mod.Input):
                    continue
                operands = [v.name for v in n.op.operands]
                if RESIDUAL in n.op.attrs and any(m.op.attrs.get(EPILOGUE_OF) == n.result for m in here.values()):
                    operands.append(n.op.attrs[RESIDUAL])  # fuse-residual: the epilogue reads it
                rule = self.computed if ACTIVATION_OF in n.op.attrs else getattr(self, n.rule)
                steps.append((rule, n, operands))
            out.append(steps)
        return out

    def _segment(self, seg: plan_mod.Segment, steps: list, full: dict[str, Any], spans: list[tuple[int, int]],
                 t: int) -> None:
        whole = spans == [(0, t)]
        for a, b in spans:
            env: dict[str, Any] = {}
            for fn, n, operands in steps:
                if n.result in env:  # a fused GEMM member, computed with its leader
                    continue
                args = [env[v] if v in env else (full[v] if whole else _rows(full[v], a, b)) for v in operands]
                out = fn(n, args, a)
                if isinstance(out, dict):
                    env.update(out)
                else:
                    env[n.result] = out
            for name in seg.keep:
                if whole or len(spans) == 1:
                    full[name] = env[name]
                else:
                    self._store(full, name, env[name], a, b, t)

    def _store(self, full: dict[str, Any], name: str, v: Any, a: int, b: int, t: int) -> None:
        if isinstance(v, Spikes):
            if name not in full:
                full[name] = Spikes(v.counts.new_empty((t, *v.counts.shape[1:])), v.vth.new_empty((t, *v.vth.shape[1:])))
            full[name].counts[a:b], full[name].vth[a:b] = v.counts, v.vth
            return
        if isinstance(v, Silu):
            v = v.x
            if name not in full:
                full[name] = Silu(v.new_empty((t, *v.shape[1:])))
            full[name].x[a:b] = v
            return
        if name not in full:
            full[name] = v.new_empty((t, *v.shape[1:]))
        full[name][a:b] = v

    # ------------------------------------------------------------------ rules (plan.RULES)
    def embed(self, n, args, a):
        return self.weight(n.op.params.weight, "act")[args[0].long()]

    def rmsnorm(self, n, args, a):
        p, x = n.op.params, args[0]
        w = self.weight(p.weight, "f32") if p.weight is not None else self._filled(p.group or x.shape[-1], 1.0)
        if n.result in self.encoded and x.dim() == 2 and norm_fits(x.shape[-1]):
            return Normed(x, w, p.eps, p.group)
        return rmsnorm(x, w, p.eps, p.group, flavour=self.flavour)

    def _filled(self, width: int, value: float) -> torch.Tensor:
        """A constant float32 vector, made once: a norm's missing weight, a ReLU's epilogue floor."""
        key = ("filled", width, value)
        if key not in self._weights:
            self._weights[key] = torch.full((width,), value, dtype=F32, device=self.device)
        return self._weights[key]

    def encode(self, n, args, a):
        p, x = n.op.params, args[0]
        if p.group is not None:  # per channel group (SWA's query), float32 math
            lo, hi = count_bounds(p) or (-NO_BOUND, NO_BOUND)
            s, vth = group_quant(x, p.group, amax=False, div=p.k, lo=p.vth_min, hi=p.vth_max, qlo=lo, qhi=hi,
                                 dequant=False, out_dtype=F32, flavour=self.flavour)
            self._record(n, s)
            return Spikes(s.reshape(x.shape[0], -1, p.group), vth)
        if isinstance(x, Normed):  # fuse-encode: the producer is computed here, its output never stored
            s, vth, _ = rmsnorm_encode(x.x, x.weight, x.eps, x.group, p.k, p.vth_min, p.vth_max, flavour=self.flavour)
        elif isinstance(x, SiluMul):
            s, vth, _ = silu_mul_encode(x.a, x.b, p.k, p.vth_min, p.vth_max, flavour=self.flavour)
        elif isinstance(x, Swiglu):
            s, vth, _ = encode_parts(x.h, x.parts, p.k, p.vth_min, p.vth_max, flavour=self.flavour)
        else:
            s, vth, _ = spike_encode_int8(x, p.k, vth_min=p.vth_min, vth_max=p.vth_max, flavour=self.flavour)
        bounds = count_bounds(p)
        if bounds is not None:
            s = torch.clamp(s, *bounds)
        self._record(n, s)
        return Spikes(s, vth)

    def _record(self, n: plan_mod.Node, counts: torch.Tensor) -> None:
        if self.record_activity and not self._capturing:
            stats = self.stats.setdefault(n.result, SpikeStats(counts.shape[-1]))
            stats.add(counts.to(torch.int32).cpu().numpy())

    def spike_decode(self, n, args, a):
        s = args[0]
        if s.vth.ndim == 3:
            return (s.counts * s.vth).reshape(s.counts.shape[0], -1).to(self.dtype)
        return (s.counts.to(F32) * s.vth).to(self.dtype)

    def dense(self, n, args, a):
        p, x = n.op.params, args[0]
        leader = n.op.attrs.get(GEMM_GROUP)
        if leader is not None:
            codes, scale, bias, grouped, blocks, floor = self._gemm_weights(leader)
            if leader in self.swiglu:
                return self._swiglu_gemm(x, codes, scale, bias, *self.swiglu[leader])
            y = self._spike_gemm(x, codes, scale, bias, grouped, floor=floor)
            out = {}
            for name, lo, hi in blocks:  # a lone ReLU was the floor; any other chain runs here
                chain = self.chains.get(name, [])
                out[name] = self._activate([] if _relu_only(chain) else chain, y[:, lo:hi], a)
            return out
        res = args[1] if len(args) > 1 else None  # fuse-residual
        chain = self.chains.get(n.result, [])
        if isinstance(x, Spikes) and p.scale is not None:
            scale = self.weight(p.scale, "f32")
            bias = self.weight(p.bias, "f32").reshape(-1) if p.bias is not None else None
            grouped = scale.shape[-1] > 1
            codes, scale = self.weight(p.weight, "i8"), scale if grouped else scale.reshape(-1)
            if res is not None and not grouped:  # the residual added in the GEMM's epilogue
                return Summed(self._spike_gemm(x, codes, scale, bias, grouped, residual=res))
            if _relu_only(chain):  # the ReLU as the epilogue's floor
                return self._spike_gemm(x, codes, scale, bias, grouped, floor=self._filled(p.out_features, 0.0))
            y = self._spike_gemm(x, codes, scale, bias, grouped)
            return y if res is None else Summed(y + res)
        if isinstance(x, Spikes):
            x = self.spike_decode(n, [x], a)
        if p.scale is None and chain and x.dim() == 2 and x.shape[-1] <= MAX_K and _kernel_chain(chain):
            return self._dense_act(p, x, chain)
        w = self.weight(p.weight, "act")
        if p.scale is not None:
            w = self._dequant(p)
        y = F.linear(x.to(self.dtype), w, self.weight(p.bias, "act") if p.bias is not None else None)
        y = self._activate(chain, y, a)
        return y if res is None else Summed(y + res)

    def _swiglu_gemm(self, x: Spikes, codes, scale, bias, gate: str, up: str) -> dict[str, Any]:
        """fuse-swiglu's projection: h and its partial sums from the GEMM's epilogue, for both members
        (the silu·mul takes them); one token runs the GEMV and reads gate and up as every other column."""
        y = self._spike_gemm(x, codes, scale, bias, False, swiglu=True)
        if isinstance(y, Swiglu):
            return {gate: y, up: y}
        return {gate: y[:, 0::2], up: y[:, 1::2]}

    def _dense_act(self, p, x: torch.Tensor, chain: list[plan_mod.Node]) -> torch.Tensor:
        """A float projection of few inputs and its activation chain, one kernel (kernels/dense_act.py);
        the output dtype is the unfused chain's (logsigmoid's gates are float32)."""
        act = chain[0].rule if chain[0].rule in ACTS else "none"
        factor = chain[-1].op.params.factor if chain[-1].rule == "scale" else 1.0
        out = F32 if any(c.rule == "logsigmoid" for c in chain) else self.dtype
        bias = self.weight(p.bias, "f32").reshape(-1) if p.bias is not None else None
        return dense_act(x, self.weight(p.weight, "f32"), bias, act, factor, out_dtype=out, flavour=self.flavour)

    def _activate(self, chain: list[plan_mod.Node], y: torch.Tensor, a: int) -> torch.Tensor:
        """A fused chain applied by the activations' own rules (the projection's kernel has no epilogue for it)."""
        for c in chain:
            y = getattr(self, c.rule)(c, [y], a)
        return y

    def computed(self, n, args, a):
        """An activation fuse-activation put into its projection's epilogue: its operand is already its value."""
        return args[0]

    def _dequant(self, p) -> torch.Tensor:
        key = ("dequant", p.weight)
        if key not in self._weights:
            s = self.weight(p.scale, "f32")
            g = p.group or self.weight(p.weight, "i8").shape[1]
            w = self.weight(p.weight, "i8").to(F32) * torch.repeat_interleave(s, g, dim=1)[:, :self.weight(p.weight, "i8").shape[1]]
            self._weights[key] = w.to(self.dtype)
        return self._weights[key]

    def _spike_gemm(self, x: Spikes, codes, scale, bias, grouped: bool, residual: torch.Tensor | None = None,
                    floor: torch.Tensor | None = None, swiglu: bool = False) -> torch.Tensor | Swiglu:
        """The spike GEMM for x's token count; `residual` (per-row scales only) and `floor` (fused ReLUs)
        join the epilogue; `swiglu` (interleaved gate/up rows) makes it Swiglu from two tokens up (one
        token's GEMV writes the interleaved columns)."""
        if x.vth.ndim != 2:
            raise SbirError("the cuda plan's spike GEMM takes per-token thresholds only")
        if swiglu and x.counts.shape[0] > 1:
            return Swiglu(*spike_gemm_swiglu(x.counts, codes, scale, x.vth, bias, out_dtype=self.dtype,
                                             flavour=self.flavour))
        if grouped:
            return spike_gemm_grouped(x.counts, codes, scale, x.vth, bias, floor=floor, out_dtype=self.dtype,
                                      flavour=self.flavour)
        fn = spike_gemv if x.counts.shape[0] == 1 else spike_gemm
        return fn(x.counts, codes, scale, x.vth, bias, residual=residual, floor=floor, out_dtype=self.dtype,
                  flavour=self.flavour)

    def relu(self, n, args, a):
        return torch.clamp_min(args[0], 0)

    def silu(self, n, args, a):
        if INTO in n.op.attrs:
            return Silu(args[0])
        return F.silu(args[0].to(F32)).to(args[0].dtype)

    def sigmoid(self, n, args, a):
        return torch.sigmoid(args[0].to(F32)).to(args[0].dtype)

    def logsigmoid(self, n, args, a):
        return F.logsigmoid(args[0].to(F32))  # gates stay float32 (GLA's decay)

    def scale(self, n, args, a):
        return args[0] * n.op.params.factor

    def add(self, n, args, a):
        for v in args:
            if isinstance(v, Summed):  # computed by the projection's epilogue (fuse-residual)
                return v.y
        return args[0] + args[1]

    def mul(self, n, args, a):
        which = n.op.attrs.get(SILU_OPERAND)
        if which is not None and isinstance(args[which], Silu):
            if isinstance(args[which].x, Swiglu):  # fuse-swiglu: the GEMM computed the product
                return args[which].x if n.result in self.encoded else args[which].x.h
            if n.result in self.encoded and args[1 - which].dim() == 2:
                return SiluMul(args[which].x, args[1 - which])
            return silu_mul(args[which].x, args[1 - which], flavour=self.flavour)
        return args[0] * args[1]

    def fake_quant(self, n, args, a):
        p, x = n.op.params, args[0]
        qmax = float(2 ** (p.bits - 1) - 1)
        y, _ = group_quant(x, p.group, amax=True, div=qmax, lo=1e-12, hi=NO_BOUND, qlo=-qmax - 1, qhi=qmax,
                           dequant=True, out_dtype=x.dtype, flavour=self.flavour)
        return y

    def rope(self, n, args, a):
        p, x = n.op.params, args[0]
        d = p.head_dim
        key = ("inv_freq", d, p.theta)
        if key not in self._weights:
            self._weights[key] = 1.0 / p.theta ** (torch.arange(0, d, 2, device=self.device, dtype=F32) / d)
        return rope_kernel(x, self.pos, a, self._weights[key], p.heads, flavour=self.flavour)

    def gla(self, n, args, a):
        p = n.op.params
        q, k, v, g = args
        t = q.shape[0]
        st = self.states.setdefault(n.index, {})
        if "S" not in st:
            st["S"] = torch.zeros((1, p.kv_heads, p.head_dim, p.head_dim), dtype=F32, device=self.device)
        hq, hk = (1, t, p.heads, p.head_dim), (1, t, p.kv_heads, p.head_dim)
        if t == 1:
            o, _ = gla_recurrent(q.reshape(1, p.heads, p.head_dim), k.reshape(1, p.kv_heads, p.head_dim),
                                 v.reshape(1, p.kv_heads, p.head_dim), g.to(F32).reshape(1, p.kv_heads, p.head_dim),
                                 st["S"], p.scale, inplace=True, flavour=self.flavour)
        else:
            o, s = gla_chunked(q.reshape(hq), k.reshape(hk), v.reshape(hk), g.to(F32).reshape(hk), p.scale,
                               st["S"], flavour=self.flavour)
            st["S"].copy_(s)
        return o.reshape(t, -1)

    def window_attention(self, n, args, a):
        p = n.op.params
        q, k, v = args
        t, w = q.shape[0], p.window
        st = self._window_cache(n)
        if t == 1 and self._t == 1:
            return self._window_step(p, st, q, k, v)
        if self.position == 0:
            o = window_attention(q.reshape(1, t, p.heads, p.head_dim), k.reshape(1, t, p.kv_heads, p.head_dim),
                                 v.reshape(1, t, p.kv_heads, p.head_dim), w, p.scale, flavour=self.flavour)
            o = o.reshape(t, -1)
        else:
            o = self._window_torch(p, st, q, k, v)
        self._keep_window(p, st, k, v, self.position + t)
        return o

    def _window_cache(self, n: plan_mod.Node) -> dict[str, torch.Tensor]:
        """The op's ring of the last window keys and values (decode state), made on first use."""
        p, st = n.op.params, self.states.get(n.index)
        if st is None:
            if p.window is None:
                raise SbirError("the cuda plan's window attention needs a window (full attention: the correctness session)")
            shape = (1, p.kv_heads, p.window, p.head_dim)
            st = self.states[n.index] = {
                "k": torch.zeros(shape, dtype=self.dtype, device=self.device),
                "v": torch.zeros(shape, dtype=self.dtype, device=self.device)}
        return st

    def _keep_window(self, p, st, k: torch.Tensor, v: torch.Tensor, end: int) -> None:
        """Write the last window - 1 of `k`, `v` (rows ending at position `end`) into the ring."""
        t, w = k.shape[0], p.window
        keep = min(t, w - 1)
        slots = torch.arange(end - keep, end, device=self.device) % w
        st["k"][0, :, slots] = k[t - keep:].reshape(keep, p.kv_heads, p.head_dim).transpose(0, 1).to(self.dtype)
        st["v"][0, :, slots] = v[t - keep:].reshape(keep, p.kv_heads, p.head_dim).transpose(0, 1).to(self.dtype)

    def _window_step(self, p, st, q, k, v) -> torch.Tensor:
        """One query against the ring; the kernel writes this step's key and value at pos mod window."""
        o = window_decode(q.reshape(p.heads, p.head_dim), k.reshape(p.kv_heads, p.head_dim),
                          v.reshape(p.kv_heads, p.head_dim), st["k"][0], st["v"][0], self.pos, p.scale,
                          flavour=self.flavour)
        return o.reshape(1, -1)

    def _window_torch(self, p, st, q, k, v) -> torch.Tensor:
        """A later prefill chunk against the ring (rare: `sbcompile run` prefills once), float32."""
        from .torch_ops import OpState, window_attention as reference
        w = p.window
        n_past = min(self.position, w - 1)
        slots = torch.arange(self.position - n_past, self.position, device=self.device) % w
        past_k = st["k"][0, :, slots].transpose(0, 1).reshape(n_past, -1).to(F32)
        past_v = st["v"][0, :, slots].transpose(0, 1).reshape(n_past, -1).to(F32)
        ctx = OpState(lambda name: None, {"k": past_k, "v": past_v}, self.position)
        return reference(p, [q.to(F32), k.to(F32), v.to(F32)], ctx).to(self.dtype)

    def activity(self) -> dict[str, Any]:
        """Spike statistics of the eager runs (CUDA-graph replays are not counted)."""
        return {"total": total(self.stats), "ops": {k: s.summary() for k, s in self.stats.items()}}

