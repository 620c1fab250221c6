"""Layer-level runners for issue 11's 7B benchmarks (prefill_7b.py, decode_7b.py): SpikingBrain-7B
from the project's Triton kernels ("ours") and a Qwen2.5-7B-shaped bf16 transformer ("theirs"), both
with random weights, batch 1.

Ours chains targets/cuda/kernels per layer as the cuda target lowers the ops: rmsnorm, spike_encode_int8
and the exact int8 spike_gemm for every projection (down_proj included: the paper spikes all projections,
the W8ASpike release leaves down_proj float), gla_chunked / gla_recurrent, window_attention, silu_mul;
activations bf16, weights int8 codes with one float32 scale per output row. For speed, unlike the
IR-driven session: projections that read the same spike counts run as one GEMM (q, k, v and the gate's
first low-rank factor); position-wise work runs in token chunks so that long prefills fit, while the
sequence mixers see the whole sequence; decode keeps a GLA state per layer and a 4096-entry ring
buffer of post-RoPE keys and values per SWA layer, attended through PyTorch SDPA (the library has
no one-query window kernel). Left out: the release's per-head spike coding of the SWA query and the
int8 rounding of SWA keys and values (value-only fake quantization, a few elementwise passes).
Glue (RoPE, relu, logsigmoid, residual adds, embedding, argmax) is PyTorch on both sides.

Theirs: the same widths, fused qkv (with bias) and gate/up weights, F.linear (cuBLAS), F.rms_norm,
SDPA with the fastest backend found on the device, the same token chunking, a KV cache."""

from __future__ import annotations

import contextlib
import copy
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from targets.cuda.kernels.gla_chunked import gla_chunked  # noqa: E402
from targets.cuda.kernels.gla_recurrent import gla_recurrent  # noqa: E402
from targets.cuda.kernels.rmsnorm import rmsnorm  # noqa: E402
from targets.cuda.kernels.silu_mul import silu_mul  # noqa: E402
from targets.cuda.kernels.spike_encode import spike_encode_int8  # noqa: E402
from targets.cuda.kernels.spike_gemm import spike_gemm  # noqa: E402
from targets.cuda.kernels.window_attention import window_attention  # noqa: E402

from sbcompile.models.presets import PRESETS  # noqa: E402

Tensor = torch.Tensor
Attention = Callable[[Tensor, Tensor, Tensor], Tensor]


_7B = PRESETS["spikingbrain-7b"]


@dataclass(frozen=True)
class Shape:
    """The spikingbrain-7b preset (sbcompile/models/presets.py), whose widths are Qwen2.5-7B's.
    Layers 1, 3, ..., 27 are SWA, the even ones GLA (SpikingBrain); window and gate rank are SpikingBrain's."""

    hidden: int = _7B.hidden_size
    layers: int = _7B.num_hidden_layers
    heads: int = _7B.num_attention_heads
    kv_heads: int = _7B.num_key_value_heads
    head_dim: int = _7B.head_dim
    intermediate: int = _7B.intermediate_size
    vocab: int = _7B.vocab_size
    window: int = _7B.sliding_window
    gate_rank: int = _7B.gate_low_rank_dim
    theta: float = _7B.rope_theta
    eps: float = _7B.norm_eps
    normalizer: float = _7B.gate_logit_normalizer

    @property
    def kv(self) -> int:
        return self.kv_heads * self.head_dim

    def swa(self, i: int) -> bool:
        return i % 2 == 1


@dataclass
class QLinear:
    """y = (float32(codes · s) · scale) · V_th + bias: int8 codes [N, K], float32 scale [N] and bias [N]."""

    w: Tensor
    scale: Tensor
    bias: Tensor | None = None

    def __call__(self, s: Tensor, vth: Tensor, out_dtype: torch.dtype) -> Tensor:
        return spike_gemm(s, self.w, self.scale, vth, self.bias, out_dtype=out_dtype)

    def rows(self, a: int, b: int) -> QLinear:
        return QLinear(self.w[a:b], self.scale[a:b], None if self.bias is None else self.bias[a:b])

    def dequant(self) -> Tensor:
        return self.w.float() * self.scale[:, None]


@dataclass
class OursLayer:
    attn_norm: Tensor
    qkv: QLinear  # q, k, v rows (GLA: then the gate's first low-rank factor, no bias)
    o: QLinear
    mlp_norm: Tensor
    gate_up: QLinear  # gate rows, then up rows
    down: QLinear
    g2: QLinear | None = None  # GLA: the gate's second factor [kv, rank]
    g_norm: Tensor | None = None  # GLA: output RMSNorm per head [head_dim]


@dataclass
class TheirLayer:
    attn_norm: Tensor
    w_qkv: Tensor
    b_qkv: Tensor
    w_o: Tensor
    mlp_norm: Tensor
    w_gate_up: Tensor
    w_down: Tensor


@dataclass
class Model:
    shape: Shape
    embed: Tensor  # [vocab, hidden], activation dtype
    layers: list
    norm: Tensor
    lm_head: Tensor  # [vocab, hidden], activation dtype
    dtype: torch.dtype


class _Init:
    """Random weights, projections of std about 1/sqrt(fan_in); zeros only for the rows without bias."""

    def __init__(self, device: str, seed: int) -> None:
        self.device, self.gen = device, torch.Generator(device=device).manual_seed(seed)

    def randn(self, *shape: int, std: float = 1.0, dtype: torch.dtype = torch.float32) -> Tensor:
        return (torch.randn(*shape, device=self.device, generator=self.gen) * std).to(dtype)

    def norm(self, n: int) -> Tensor:
        return 1.0 + self.randn(n, std=0.1)

    def qlinear(self, n: int, k: int, bias: bool | int) -> QLinear:
        """`bias`: True, False, or the number of leading rows that have one (the rest get 0)."""
        w = torch.randint(-127, 128, (n, k), dtype=torch.int8, device=self.device, generator=self.gen)
        scale = (0.5 + torch.rand(n, device=self.device, generator=self.gen)) / (73.6 * math.sqrt(k))
        rows = n if bias is True else int(bias)
        b = None if not rows else torch.cat([self.randn(rows, std=0.1), self.randn(n - rows, std=0.0)])
        return QLinear(w, scale, b)


def build_ours(shape: Shape, device: str, dtype: torch.dtype = torch.bfloat16, seed: int = 0) -> Model:
    r = _Init(device, seed)
    h, kv, i2 = shape.hidden, shape.kv, 2 * shape.intermediate
    layers = []
    for i in range(shape.layers):
        common = dict(attn_norm=r.norm(h), o=r.qlinear(h, h, False), mlp_norm=r.norm(h),
                      gate_up=r.qlinear(i2, h, False), down=r.qlinear(h, shape.intermediate, False))
        if shape.swa(i):
            layers.append(OursLayer(qkv=r.qlinear(h + 2 * kv, h, True), **common))
        else:
            layers.append(OursLayer(qkv=r.qlinear(h + 2 * kv + shape.gate_rank, h, h + 2 * kv),
                                    g2=r.qlinear(kv, shape.gate_rank, True), g_norm=r.norm(shape.head_dim), **common))
    return Model(shape, r.randn(shape.vocab, h, dtype=dtype), layers, r.norm(h),
                 r.randn(shape.vocab, h, std=h ** -0.5, dtype=dtype), dtype)


def build_theirs(shape: Shape, device: str, dtype: torch.dtype = torch.bfloat16, seed: int = 1) -> Model:
    r = _Init(device, seed)
    h, kv, f = shape.hidden, shape.kv, shape.intermediate
    layers = [TheirLayer(r.norm(h).to(dtype), r.randn(h + 2 * kv, h, std=h ** -0.5, dtype=dtype),
                         r.randn(h + 2 * kv, std=0.1, dtype=dtype), r.randn(h, h, std=h ** -0.5, dtype=dtype),
                         r.norm(h).to(dtype), r.randn(2 * f, h, std=h ** -0.5, dtype=dtype),
                         r.randn(h, f, std=f ** -0.5, dtype=dtype)) for _ in range(shape.layers)]
    return Model(shape, r.randn(shape.vocab, h, dtype=dtype), layers, r.norm(h).to(dtype),
                 r.randn(shape.vocab, h, std=h ** -0.5, dtype=dtype), dtype)


def rope(x: Tensor, pos: Tensor, shape: Shape) -> Tensor:
    """Rotate-half RoPE of x [T, heads * head_dim] at positions pos [T] (sbcompile/models/swa.py), float32 math."""
    d = shape.head_dim
    inv = 1.0 / shape.theta ** (torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d)
    ang = (pos.float()[:, None] * inv[None, :])[:, None, :]
    cos, sin = ang.cos(), ang.sin()
    h = x.float().view(x.shape[0], -1, d)
    x1, x2 = h[..., : d // 2], h[..., d // 2:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1).view(x.shape).to(x.dtype)


def encode(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-token spike counts (int8) and thresholds; saturation (|count| > 127) is not checked here."""
    s, vth, _ = spike_encode_int8(x)
    return s, vth


def _chunks(t: int, chunk: int) -> list[tuple[int, int]]:
    return [(a, min(a + chunk, t)) for a in range(0, t, chunk)]


# ---------------------------------------------------------------- ours: prefill


def _ours_ffn(p: OursLayer, x: Tensor, shape: Shape, dtype: torch.dtype) -> Tensor:
    s, vth = encode(rmsnorm(x, p.mlp_norm, shape.eps))
    f = shape.intermediate
    if x.shape[0] == 1:  # one token: one GEMM, whose two halves are contiguous
        y = p.gate_up(s, vth, dtype)
        a = silu_mul(y[:, :f], y[:, f:])
    else:
        a = silu_mul(p.gate_up.rows(0, f)(s, vth, dtype), p.gate_up.rows(f, 2 * f)(s, vth, dtype))
    return p.down(*encode(a), dtype)


def _ours_gla_prefill(p: OursLayer, x: Tensor, shape: Shape, chunk: int) -> Tensor:
    t, d, kv, hd = x.shape[0], shape.hidden, shape.kv, shape.head_dim
    q, k, v = x.new_empty(t, d), x.new_empty(t, kv), x.new_empty(t, kv)
    g = torch.empty(t, kv, dtype=torch.float32, device=x.device)
    for a, b in _chunks(t, chunk):
        y = p.qkv(*encode(rmsnorm(x[a:b], p.attn_norm, shape.eps)), x.dtype)
        torch.clamp_min(y[:, :d], 0, out=q[a:b])
        torch.clamp_min(y[:, d:d + kv], 0, out=k[a:b])
        v[a:b] = y[:, d + kv:d + 2 * kv]
        g[a:b] = F.logsigmoid(p.g2(*encode(y[:, d + 2 * kv:]), torch.float32)) / shape.normalizer
    o, state = gla_chunked(q.view(1, t, shape.heads, hd), k.view(1, t, shape.kv_heads, hd),
                           v.view(1, t, shape.kv_heads, hd), g.view(1, t, shape.kv_heads, hd))
    o = o.view(t, d)
    for a, b in _chunks(t, chunk):
        x[a:b] += p.o(*encode(rmsnorm(o[a:b], p.g_norm, shape.eps, group=hd)), x.dtype)
        x[a:b] += _ours_ffn(p, x[a:b], shape, x.dtype)
    return state


def _ours_swa_prefill(p: OursLayer, x: Tensor, shape: Shape, chunk: int) -> tuple[Tensor, Tensor]:
    t, d, kv, hd = x.shape[0], shape.hidden, shape.kv, shape.head_dim
    q, k, v = x.new_empty(t, d), x.new_empty(t, kv), x.new_empty(t, kv)
    for a, b in _chunks(t, chunk):
        y = p.qkv(*encode(rmsnorm(x[a:b], p.attn_norm, shape.eps)), x.dtype)
        pos = torch.arange(a, b, device=x.device)
        q[a:b], k[a:b], v[a:b] = rope(y[:, :d], pos, shape), rope(y[:, d:d + kv], pos, shape), y[:, d + kv:]
    o = window_attention(q.view(1, t, shape.heads, hd), k.view(1, t, shape.kv_heads, hd),
                         v.view(1, t, shape.kv_heads, hd), shape.window).view(t, d)
    for a, b in _chunks(t, chunk):
        x[a:b] += p.o(*encode(o[a:b]), x.dtype)
        x[a:b] += _ours_ffn(p, x[a:b], shape, x.dtype)
    keep = min(t, shape.window - 1)  # decode sees the new key and the window - 1 before it
    return k[t - keep:].clone(), v[t - keep:].clone()


def ours_prefill(m: Model, ids: Tensor, chunk: int = 32768) -> tuple[Tensor, list]:
    """ids [T] -> (last-position logits [1, vocab], per-layer state: GLA state or SWA (keys, values))."""
    x = m.embed[ids]
    states = [(_ours_swa_prefill if m.shape.swa(i) else _ours_gla_prefill)(p, x, m.shape, chunk)
              for i, p in enumerate(m.layers)]
    return F.linear(rmsnorm(x[-1:], m.norm, m.shape.eps), m.lm_head), states


# ---------------------------------------------------------------- theirs: prefill


def causal_sdpa(backend: SDPBackend, expand: bool) -> Attention:
    """q [1, H, T, d], k and v [1, Hkv, T, d] -> [1, H, T, d]; GQA by SDPA's enable_gqa or by repeating K/V."""
    def attn(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        if expand:
            k, v = (x.repeat_interleave(q.shape[1] // x.shape[1], dim=1) for x in (k, v))
        with sdpa_kernel(backend):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=not expand)
    return attn


def _their_ffn(p: TheirLayer, x: Tensor, shape: Shape) -> Tensor:
    gu = F.linear(F.rms_norm(x, (shape.hidden,), p.mlp_norm, shape.eps), p.w_gate_up)
    return F.linear(F.silu(gu[:, :shape.intermediate]) * gu[:, shape.intermediate:], p.w_down)


def their_prefill(m: Model, ids: Tensor, attn: Attention, chunk: int = 32768) -> tuple[Tensor, list]:
    """ids [T] -> (last-position logits [1, vocab], per-layer KV cache (keys, values) [T, kv])."""
    s, x = m.shape, m.embed[ids]
    t, d, kv, hd = x.shape[0], s.hidden, s.kv, s.head_dim
    cache = []
    for p in m.layers:
        q, k, v = x.new_empty(t, d), x.new_empty(t, kv), x.new_empty(t, kv)
        for a, b in _chunks(t, chunk):
            y = F.linear(F.rms_norm(x[a:b], (d,), p.attn_norm, s.eps), p.w_qkv, p.b_qkv)
            pos = torch.arange(a, b, device=x.device)
            q[a:b], k[a:b], v[a:b] = rope(y[:, :d], pos, s), rope(y[:, d:d + kv], pos, s), y[:, d + kv:]
        heads = lambda z, n: z.view(1, t, n, hd).transpose(1, 2)
        o = attn(heads(q, s.heads), heads(k, s.kv_heads), heads(v, s.kv_heads)).transpose(1, 2).reshape(t, d)
        for a, b in _chunks(t, chunk):
            x[a:b] += F.linear(o[a:b], p.w_o)
            x[a:b] += _their_ffn(p, x[a:b], s)
        cache.append((k, v))
    return F.linear(F.rms_norm(x[-1:], (d,), m.norm, s.eps), m.lm_head), cache


# ---------------------------------------------------------------- decode


def decode_sdpa(backend: SDPBackend | None, gqa: bool) -> Attention:
    """One query per head against a cache: q [1, Hkv, rep, d] (the rep query heads of each kv head as
    rows), k and v [1, Hkv, L, d] -> [1, Hkv, rep, d]. `gqa`: pass q as [1, H, 1, d] with enable_gqa instead."""
    def attn(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        qq = q.reshape(1, -1, 1, q.shape[-1]) if gqa else q
        with sdpa_kernel(backend) if backend is not None else contextlib.nullcontext():
            o = F.scaled_dot_product_attention(qq, k, v, enable_gqa=gqa)
        return o.view(q.shape)
    return attn


class Decoder:
    """Greedy one-token steps from persistent state; `step()` makes no host sync or host-to-device copy,
    so a CUDA graph can capture it. `tok` holds the last token, `pos` its next position (device tensors)."""

    def __init__(self, m: Model, position: int, attn: Attention) -> None:
        self.m, self.attn = m, attn
        dev = m.embed.device
        self.tok = torch.zeros(1, dtype=torch.long, device=dev)
        self.pos = torch.full((1,), position, dtype=torch.long, device=dev)
        self.logits = torch.empty(1, m.shape.vocab, dtype=m.dtype, device=dev)

    def layer(self, i: int, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        for i in range(self.m.shape.layers):
            x = self.layer(i, x)
        return x

    def step(self) -> None:
        x = self.forward(self.m.embed[self.tok])
        self.logits.copy_(self.head(x))
        self.tok.copy_(self.logits.argmax(-1))
        self.pos += 1

    def head(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def _qkv(self, y: Tensor, rotate: bool) -> tuple[Tensor, Tensor, Tensor]:
        s = self.m.shape
        d, kv = s.hidden, s.kv
        q, k, v = y[:, :d], y[:, d:d + kv], y[:, d + kv:d + 2 * kv]
        if rotate:
            q, k = rope(q, self.pos, s), rope(k, self.pos, s)
        return q, k, v

    def _cached(self, q: Tensor, k: Tensor, v: Tensor, ck: Tensor, cv: Tensor) -> Tensor:
        """Write k, v into slot pos mod L of the ring cache [1, Hkv, L, d], then attend all L entries."""
        s = self.m.shape
        slot = self.pos % ck.shape[2]
        ck.index_copy_(2, slot, k.view(1, s.kv_heads, 1, s.head_dim))
        cv.index_copy_(2, slot, v.view(1, s.kv_heads, 1, s.head_dim))
        rep = s.heads // s.kv_heads
        return self.attn(q.reshape(1, s.kv_heads, rep, s.head_dim), ck, cv).reshape(1, s.hidden)


def ring(keys: Tensor, position: int, size: int, shape: Shape) -> Tensor:
    """The last keys (or values) [n, kv] before `position` placed at their slots p mod size: [1, Hkv, size, d]."""
    n = keys.shape[0]
    out = keys.new_zeros(1, shape.kv_heads, size, shape.head_dim)
    slots = torch.arange(position - n, position, device=keys.device) % size
    out[0, :, slots] = keys.view(n, shape.kv_heads, shape.head_dim).transpose(0, 1)
    return out


class OursDecoder(Decoder):
    """States as ours_prefill returns them: GLA [1, Hkv, d, d] float32, SWA (keys, values) [<= window - 1, kv]."""

    def __init__(self, m: Model, states: list, position: int, attn: Attention) -> None:
        super().__init__(m, position, attn)
        s = m.shape
        self.states = [(ring(st[0], position, s.window, s), ring(st[1], position, s.window, s)) if s.swa(i)
                       else st.contiguous().clone() for i, st in enumerate(states)]

    def layer(self, i: int, x: Tensor) -> Tensor:
        s, p, st = self.m.shape, self.m.layers[i], self.states[i]
        y = p.qkv(*encode(rmsnorm(x, p.attn_norm, s.eps)), x.dtype)
        q, k, v = self._qkv(y, s.swa(i))
        if s.swa(i):
            o = self._cached(q, k, v, *st)
        else:
            g = F.logsigmoid(p.g2(*encode(y[:, s.hidden + 2 * s.kv:]), torch.float32)) / s.normalizer
            hk = (1, s.kv_heads, s.head_dim)
            o, _ = gla_recurrent(q.clamp_min(0).view(1, s.heads, s.head_dim), k.clamp_min(0).view(hk), v.view(hk),
                                 g.view(hk), st, inplace=True)
            o = rmsnorm(o.view(1, s.hidden), p.g_norm, s.eps, group=s.head_dim)
        x = x + p.o(*encode(o), x.dtype)
        return x + _ours_ffn(p, x, s, x.dtype)

    def head(self, x: Tensor) -> Tensor:
        return F.linear(rmsnorm(x, self.m.norm, self.m.shape.eps), self.m.lm_head)


class TheirDecoder(Decoder):
    """A static KV cache of `cache` [(keys, values) [n, kv]] per layer, as a ring of `size` slots
    (size = the context: every step attends `size` cached positions)."""

    def __init__(self, m: Model, cache: list, position: int, size: int, attn: Attention) -> None:
        super().__init__(m, position, attn)
        self.cache = [(ring(k, position, size, m.shape), ring(v, position, size, m.shape)) for k, v in cache]

    def layer(self, i: int, x: Tensor) -> Tensor:
        s, p = self.m.shape, self.m.layers[i]
        y = F.linear(F.rms_norm(x, (s.hidden,), p.attn_norm, s.eps), p.w_qkv, p.b_qkv)
        x = x + F.linear(self._cached(*self._qkv(y, True), *self.cache[i]), p.w_o)
        return x + _their_ffn(p, x, s)

    def head(self, x: Tensor) -> Tensor:
        return F.linear(F.rms_norm(x, (self.m.shape.hidden,), self.m.norm, self.m.shape.eps), self.m.lm_head)


def random_states(m: Model, position: int, seed: int = 2) -> list:
    """Decode states as after a prefill of `position` tokens, with random contents (GLA states small)."""
    r, s = _Init(str(m.embed.device), seed), m.shape
    keep = min(position, s.window - 1)
    return [(r.randn(keep, s.kv, dtype=m.dtype), r.randn(keep, s.kv, dtype=m.dtype)) if s.swa(i)
            else r.randn(1, s.kv_heads, s.head_dim, s.head_dim, std=0.01) for i in range(s.layers)]


def random_cache(m: Model, context: int, seed: int = 3) -> list:
    r, s = _Init(str(m.embed.device), seed), m.shape
    return [(r.randn(context, s.kv, dtype=m.dtype), r.randn(context, s.kv, dtype=m.dtype)) for _ in range(s.layers)]


# ---------------------------------------------------------------- check against sbcompile.models


def rel(a: Tensor, b: Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm())


def reference_model(m: Model) -> torch.nn.Module:
    """sbcompile.models.SpikingBrainForCausalLM (float32, the project's PyTorch model) holding ours'
    weights decoded: down_proj spiked, no SWA query coding or K/V rounding, as the runner computes."""
    from sbcompile.models import SpikeOptions, SpikingBrainConfig, build_model
    s = m.shape
    cfg = SpikingBrainConfig(vocab_size=s.vocab, hidden_size=s.hidden, num_hidden_layers=s.layers,
                             num_attention_heads=s.heads, num_key_value_heads=s.kv_heads,
                             intermediate_size=s.intermediate, sliding_window=s.window, rope_theta=s.theta,
                             norm_eps=s.eps, gate_logit_normalizer=s.normalizer, gate_low_rank_dim=s.gate_rank)
    ref = build_model(cfg, SpikeOptions(spike_down_proj=True, swa_query=False, kv_bits=None),
                      device=str(m.embed.device)).eval()
    h, kv, f = s.hidden, s.kv, s.intermediate
    sd = {"model.embeddings.weight": m.embed.float(), "model.norm.weight": m.norm, "lm_head.weight": m.lm_head.float()}
    for i, p in enumerate(m.layers):
        pre = f"model.layers.{i}."
        w, b = p.qkv.dequant(), p.qkv.bias
        sd |= {pre + "attn_norm.weight": p.attn_norm, pre + "mlp_norm.weight": p.mlp_norm,
               pre + "attn.o_proj.weight": p.o.dequant(), pre + "mlp.gate_proj.weight": p.gate_up.dequant()[:f],
               pre + "mlp.up_proj.weight": p.gate_up.dequant()[f:], pre + "mlp.down_proj.weight": p.down.dequant()}
        for name, (a, z) in {"q_proj": (0, h), "k_proj": (h, h + kv), "v_proj": (h + kv, h + 2 * kv)}.items():
            sd |= {pre + f"attn.{name}.weight": w[a:z], pre + f"attn.{name}.bias": b[a:z]}
        if not s.swa(i):
            sd |= {pre + "attn.gk_proj.0.weight": w[h + 2 * kv:], pre + "attn.gk_proj.1.weight": p.g2.dequant(),
                   pre + "attn.gk_proj.1.bias": p.g2.bias, pre + "attn.g_norm.weight": p.g_norm}
    ref.load_state_dict(sd, strict=True)
    return ref


CHECK_SHAPE = Shape(hidden=512, layers=2, heads=4, kv_heads=2, head_dim=128, intermediate=1024, vocab=1000,
                    window=64)


def _reference_logits(ref: torch.nn.Module, ids: Tensor, feed: list[Tensor] | None, steps: int) -> tuple[list, list]:
    """Logits after the prefill and after each decode step; tokens fed: `feed`, or greedy from this model."""
    state = ref.new_state()
    out = [ref(ids[None], state)[0][0, -1].float()]
    toks = feed or []
    for i in range(steps):
        if feed is None:
            toks.append(out[-1].argmax().view(1))
        out.append(ref(toks[i][None], state)[0][0, -1].float())
    return out, toks


def check(device: str, dtype: torch.dtype, tokens: int = 256, decode: int = 4) -> dict[str, float]:
    """Ours on CHECK_SHAPE (one GLA and one SWA layer, GQA 2:1, window 64, token chunks of 96) against
    sbcompile.models in float32: relative difference of the logits after a prefill and (worst) after each
    of `decode` steps, the float32 model's greedy tokens fed to all. For scale, the same for the project's
    model run in bf16: spike counts round x / V_th to integers, so a bf16 rounding anywhere flips some
    counts by one and moves later values by a whole V_th. Last, theirs: one decode step vs a prefill."""
    m = build_ours(CHECK_SHAPE, device, dtype, seed=5)
    ref = reference_model(m)
    ids = torch.randint(0, CHECK_SHAPE.vocab, (tokens,), device=device, generator=torch.Generator(device).manual_seed(6))
    with torch.no_grad():
        want, feed = _reference_logits(ref, ids, None, decode)
        logits, states = ours_prefill(m, ids, chunk=96)
        dec = OursDecoder(m, states, tokens, decode_sdpa(None, False))
        got = [logits[0].float()]
        for tok in feed:
            dec.tok.copy_(tok)
            dec.step()
            got.append(dec.logits[0].float().clone())
        half, _ = _reference_logits(copy.deepcopy(ref).to(torch.bfloat16), ids, feed, decode)
        out = {f"ours {str(dtype)[6:]} prefill": rel(got[0], want[0]),
               f"ours {str(dtype)[6:]} decode": max(rel(a, b) for a, b in zip(got[1:], want[1:])),
               "sbcompile.models bf16 prefill": rel(half[0], want[0]),
               "sbcompile.models bf16 decode": max(rel(a, b) for a, b in zip(half[1:], want[1:]))}
        theirs = build_theirs(CHECK_SHAPE, device, dtype, seed=7)
        attn = causal_sdpa(SDPBackend.MATH, expand=False)
        full, _ = their_prefill(theirs, ids, attn, chunk=96)
        _, cache = their_prefill(theirs, ids[:-1], attn, chunk=96)
        tdec = TheirDecoder(theirs, cache, tokens - 1, tokens, decode_sdpa(None, False))
        tdec.tok.copy_(ids[-1])
        tdec.step()
        out["theirs decode vs prefill"] = rel(tdec.logits.float(), full.float())
    return {k: round(v, 7) for k, v in out.items()}
