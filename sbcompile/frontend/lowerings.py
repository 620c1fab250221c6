"""How each leaf module of the model family becomes sbir ops (one op, or a few for a spiking
projection and a mixture of experts)."""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from sbcompile.passes.quantize import stored_scale_codes
from sbcompile.ir import OpDef, Value
from sbcompile.ir.dialects.nn import Add, Embed, FakeQuant, Mul, ReLU, Route, Sigmoid, SiLU
from sbcompile.ir.dialects.nn import RMSNorm as RMSNormOp
from sbcompile.ir.dialects.seq import GLA, RoPE, WindowAttention
from sbcompile.ir.dialects.spike import Decode, Encode
from sbcompile.ir.dialects.syn import Dense
from sbcompile.models.gla import GLACore
from sbcompile.models.linear import SpikingLinear
from sbcompile.models.mlp import MoEFeedForward, SwiGLU
from sbcompile.models.norm import HeadRMSNorm, RMSNorm
from sbcompile.models.spiking import VTH_MAX, VTH_MIN, SpikeEncoder, VectorQuant
from sbcompile.models.swa import RotaryEmbedding, WindowAttentionCore

from .trace import Lowering, TraceContext


def embedding(tc: TraceContext, m: nn.Embedding, args: list[Value], path: str) -> Value:
    return tc.op(Embed, args, weight=tc.weight(f"{path}.weight"), vocab=m.num_embeddings, dim=m.embedding_dim)


def rmsnorm(tc: TraceContext, m: RMSNorm, args: list[Value], path: str) -> Value:
    return tc.op(RMSNormOp, args, weight=tc.weight(f"{path}.weight"), eps=float(m.eps))


def head_rmsnorm(tc: TraceContext, m: HeadRMSNorm, args: list[Value], path: str) -> Value:
    return tc.op(RMSNormOp, args, weight=tc.weight(f"{path}.weight"), eps=float(m.eps), group=m.head_dim)


def encoder(tc: TraceContext, m: SpikeEncoder, args: list[Value], path: str) -> Value:
    """A free-standing encoder stands for its decoded values."""
    s = tc.op(Encode, args, k=float(m.k), vth_min=VTH_MIN, vth_max=VTH_MAX, group=m.group)
    return tc.op(Decode, [s], "decoded")


def vector_quant(tc: TraceContext, m: VectorQuant, args: list[Value], path: str) -> Value:
    return tc.op(FakeQuant, args, bits=m.bits, group=m.group)


def linear(tc: TraceContext, m: nn.Linear, args: list[Value], path: str) -> Value:
    """A projection; with an encoder, its input is spike-coded first. Weight fake-quantization is
    not traced: the `quantize` pass does it in the IR, where it is visible. Stored weight scales
    (W8ASpike) are the checkpoint's own: its codes and scales go into the IR here."""
    x = args[0]
    enc = getattr(m, "encoder", None)
    if enc is not None:
        x = tc.op(Encode, [x], "spikes", k=float(enc.k), vth_min=VTH_MIN, vth_max=VTH_MAX)
    if isinstance(m, SpikingLinear) and m.stored_scales:
        updates, facts = stored_scale_codes(tc.module.weights, tc.weight(f"{path}.weight"),
                                            tc.weight(f"{path}.weight_quantizer.scales"))
        return tc.op(Dense, [x], bias=tc.weight(f"{path}.bias") if m.bias is not None else None,
                     out_features=m.out_features, attrs={f"quant.{k}": v for k, v in facts.items()}, **updates)
    return tc.op(Dense, [x], weight=tc.weight(f"{path}.weight"),
                 bias=tc.weight(f"{path}.bias") if m.bias is not None else None, out_features=m.out_features)


def gla_core(tc: TraceContext, m: GLACore, args: list[Value], path: str) -> Value:
    return tc.op(GLA, args, heads=m.heads, kv_heads=m.kv_heads, head_dim=m.head_dim, scale=float(m.scale))


def rotary(tc: TraceContext, m: RotaryEmbedding, args: list[Value], path: str) -> Value:
    width = args[0].type.shape[-1]
    return tc.op(RoPE, args[:1], heads=width // m.head_dim, head_dim=m.head_dim, theta=float(m.theta))


def window_core(tc: TraceContext, m: WindowAttentionCore, args: list[Value], path: str) -> Value:
    sinks = {"sink_k": tc.weight(f"{path}.sink_k"), "sink_v": tc.weight(f"{path}.sink_v")} if m.sinks else {}
    return tc.op(WindowAttention, args, heads=m.heads, kv_heads=m.kv_heads, head_dim=m.head_dim,
                 scale=float(m.scale), window=m.window, **sinks)


def swiglu(tc: TraceContext, m: SwiGLU, x: Value, path: str) -> Value:
    sub = replace(tc)
    gate = _sub(sub, f"{path}.gate_proj", linear, m.gate_proj, x)
    up = _sub(sub, f"{path}.up_proj", linear, m.up_proj, x)
    h = sub.op(Mul, [sub.op(SiLU, [gate]), up])
    return _sub(sub, f"{path}.down_proj", linear, m.down_proj, h)


def _sub(tc: TraceContext, path: str, lower: Lowering, m: nn.Module, x: Value) -> Value:
    tc.base = tc.names(path)
    return lower(tc, m, [x], path)


def moe(tc: TraceContext, m: MoEFeedForward, args: list[Value], path: str) -> Value:
    """Every expert as its own projections, weighted by its routing weight (0 when not chosen):
    the same function as top-k dispatch, and every expert's synapses visible to partition."""
    x = args[0]
    logits = _sub(tc, f"{path}.gate", linear, m.gate, x)
    out = None
    for e, expert in enumerate(m.experts):
        tc.base = tc.names(f"{path}.experts.{e}")
        w = tc.op(Route, [logits], "route", experts=len(m.experts), top_k=m.top_k, expert=e)
        y = tc.op(Mul, [swiglu(tc, expert, x, f"{path}.experts.{e}"), w])
        out = y if out is None else tc.op(Add, [out, y])
    if m.shared_expert is not None:
        out = tc.op(Add, [out, swiglu(tc, m.shared_expert, x, f"{path}.shared_expert")])
    return out


def activation(op: type[OpDef]) -> Lowering:
    def lower(tc: TraceContext, m: nn.Module, args: list[Value], path: str) -> Value:
        return tc.op(op, args)
    return lower


LOWERINGS: dict[type, Lowering] = {
    nn.ReLU: activation(ReLU), nn.SiLU: activation(SiLU), nn.Sigmoid: activation(Sigmoid),
    nn.Embedding: embedding, RMSNorm: rmsnorm, HeadRMSNorm: head_rmsnorm, SpikeEncoder: encoder, VectorQuant: vector_quant,
    SpikingLinear: linear, nn.Linear: linear, GLACore: gla_core, RotaryEmbedding: rotary,
    WindowAttentionCore: window_core, MoEFeedForward: moe,
}
