"""A small SpikingBrain-shaped language model built directly in IR with random weights, so the
interpreter and the run command are tested without PyTorch."""

from __future__ import annotations

import numpy as np

from sbcompile.ir import Builder, Module, Value, tensor


def tiny_lm(seed: int = 0, *, vocab: int = 256, hidden: int = 16, heads: int = 2, kv_heads: int = 1,
            window: int = 4, spiking: bool = True) -> Module:
    rng = np.random.default_rng(seed)
    head_dim = hidden // heads
    kv = kv_heads * head_dim
    m = Module("handmade_lm", {"vocab": vocab, "tokenizer": "bytes"})
    b = Builder(m)

    def w(name: str, *shape: int, scale: float = 0.3) -> str:
        m.weights.add(name, (rng.standard_normal(shape) * scale).astype(np.float32))
        return name

    def proj(x: Value, name: str, out: int, bias: bool = False) -> Value:
        src = b.op("spike.encode", [x], k=3.0) if spiking else x
        return b.op("syn.dense", [src], weight=w(f"{name}.weight", out, hidden), out_features=out,
                    bias=w(f"{name}.bias", out) if bias else None, result=name.replace(".", "_"))

    tok = b.input("tokens", tensor(["seq"], "i32"))
    x = b.op("nn.embed", [tok], weight=w("embed.weight", vocab, hidden, scale=1.0), vocab=vocab, dim=hidden)
    # a GLA block
    h = b.op("nn.rmsnorm", [x], weight=w("l0.norm.weight", hidden))
    q = b.op("nn.relu", [proj(h, "l0.q", hidden, bias=True)])
    k = b.op("nn.relu", [proj(h, "l0.k", kv, bias=True)])
    v = proj(h, "l0.v", kv, bias=True)
    g = b.op("nn.scale", [b.op("nn.logsigmoid", [proj(h, "l0.g", kv)])], factor=1 / 16)
    o = b.op("seq.gla", [q, k, v, g], heads=heads, kv_heads=kv_heads, head_dim=head_dim, scale=head_dim ** -0.5)
    o = b.op("nn.rmsnorm", [o], weight=w("l0.gnorm.weight", head_dim), group=head_dim)
    x = b.op("nn.add", [x, proj(o, "l0.o", hidden)])
    # a sliding-window attention block
    h = b.op("nn.rmsnorm", [x], weight=w("l1.norm.weight", hidden))
    q = b.op("seq.rope", [proj(h, "l1.q", hidden, bias=True)], heads=heads, head_dim=head_dim, theta=10000.0)
    k = b.op("seq.rope", [proj(h, "l1.k", kv, bias=True)], heads=kv_heads, head_dim=head_dim, theta=10000.0)
    v = proj(h, "l1.v", kv, bias=True)
    o = b.op("seq.window_attention", [q, k, v], heads=heads, kv_heads=kv_heads, head_dim=head_dim,
             scale=head_dim ** -0.5, window=window)
    x = b.op("nn.add", [x, proj(o, "l1.o", hidden)])
    # SwiGLU
    h = b.op("nn.rmsnorm", [x], weight=w("l1.mlp_norm.weight", hidden))
    gate, up = proj(h, "l1.gate", 2 * hidden), proj(h, "l1.up", 2 * hidden)
    a = b.op("nn.mul", [b.op("nn.silu", [gate]), up])
    down = b.op("syn.dense", [a], weight=w("l1.down.weight", hidden, 2 * hidden), out_features=hidden)
    x = b.op("nn.add", [x, down])
    h = b.op("nn.rmsnorm", [x], weight=w("norm.weight", hidden))
    b.output(b.op("syn.dense", [h], weight=w("lm_head.weight", vocab, hidden), out_features=vocab, result="logits"))
    return m
