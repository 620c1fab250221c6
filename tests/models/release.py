"""The released SpikingBrain-7B's equations, written for the tests from a reading of the official
modelling code (hf_7B_model/ and W8ASpike/ of BICLab/SpikingBrain-7B), independent of
sbcompile.models: plain tensors in, logits out, with the GPU kernels' naive equivalents (a GLA
recurrence, masked softmax attention). It also writes random checkpoints in both official
layouts. Used only to check the compiler against the release."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

Tensors = dict[str, torch.Tensor]


def official_config(*, vocab: int = 300, hidden: int = 256, heads: int = 2, kv_heads: int = 1, layers: int = 4,
                    inter: int = 384, window: int = 5, **extra: object) -> dict:
    """A config.json as the release writes it (no gate_low_rank_dim: the rank is in the tensors)."""
    return {"architectures": ["GLAswaForCausalLM"], "model_type": "gla_swa", "attn_mode": "chunk",
            "attn_layers": list(range(1, layers, 2)), "conv_size": 4, "elementwise_affine": True,
            "hidden_act": "swish", "hidden_size": hidden, "intermediate_size": inter, "norm_eps": 1e-6,
            "num_attention_heads": heads, "num_hidden_layers": layers, "num_key_value_heads": kv_heads,
            "rope_theta": 10000.0, "sliding_window": window, "tie_word_embeddings": False, "use_short_conv": False,
            "vocab_size": vocab, "torch_dtype": "float32", **extra}


def random_checkpoint(cfg: dict, layout: str, seed: int, rank: int = 8, outside: float = 0.0) -> Tensors:
    """Random weights under the official names. layout "base": low-rank gate gk_proj.0/1;
    "w8aspike": full-rank gk_proj and stored scales for every projection, with group scales
    shrunk by up to `outside` (a fraction) below amax/127 so that some codes leave int8."""
    g = torch.Generator().manual_seed(seed)
    h, d = cfg["hidden_size"], cfg["hidden_size"] // cfg["num_attention_heads"]
    kv, inter = cfg["num_key_value_heads"] * d, cfg["intermediate_size"]

    def mat(o: int, i: int) -> torch.Tensor:
        return torch.randn(o, i, generator=g) / i ** 0.5

    def vec(n: int, mean: float = 0.0) -> torch.Tensor:
        return mean + 0.1 * torch.randn(n, generator=g)

    t: Tensors = {"model.embeddings.weight": torch.randn(cfg["vocab_size"], h, generator=g),
                  "model.norm.weight": vec(h, 1.0)}
    if not cfg.get("tie_word_embeddings"):
        t["lm_head.weight"] = mat(cfg["vocab_size"], h)
    projections = []
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t[p + "attn_norm.weight"], t[p + "mlp_norm.weight"] = vec(h, 1.0), vec(h, 1.0)
        for name, o in (("q", h), ("k", kv), ("v", kv)):
            t[p + f"attn.{name}_proj.weight"], t[p + f"attn.{name}_proj.bias"] = mat(o, h), vec(o)
        t[p + "attn.o_proj.weight"] = mat(h, h)
        projections += [p + f"attn.{n}_proj" for n in "qkvo"]
        if i not in cfg["attn_layers"]:
            t[p + "attn.g_norm.weight"] = vec(d, 1.0)
            if layout == "base":
                t[p + "attn.gk_proj.0.weight"], t[p + "attn.gk_proj.1.weight"] = mat(rank, h), mat(kv, rank)
                t[p + "attn.gk_proj.1.bias"] = vec(kv)
            else:
                t[p + "attn.gk_proj.weight"], t[p + "attn.gk_proj.bias"] = mat(kv, h), vec(kv)
                projections.append(p + "attn.gk_proj")
        t[p + "mlp.gate_proj.weight"], t[p + "mlp.up_proj.weight"] = mat(inter, h), mat(inter, h)
        t[p + "mlp.down_proj.weight"] = mat(h, inter)
        projections += [p + f"mlp.{n}_proj" for n in ("gate", "up", "down")]
    if layout == "w8aspike":
        for p in projections:
            w = t[p + ".weight"]
            amax = w.reshape(w.shape[0], -1, 128).abs().amax(-1, keepdim=True)
            shrink = 1 - outside * torch.rand(amax.shape, generator=g)
            t[p + ".weight_quantizer.scales"] = amax / 127 * shrink
    return t


def write_checkpoint(directory: Path, cfg: dict, tensors: Tensors) -> Path:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(cfg, indent=2))
    save_file({n: v.contiguous() for n, v in tensors.items()}, str(directory / "model.safetensors"))
    return directory


# --- the release's forward pass -------------------------------------------------------------

def dynamic_spikes(x: torch.Tensor, k: float = 3.0) -> torch.Tensor:
    """quant_linear.dynamic_spikes, decoded: V_th = mean|x| / k (clamped), counts round(x / V_th)."""
    vth = (x.abs().mean(-1, keepdim=True).float() / k).clamp(1e-5, 1e4)
    return ((x / vth).round() * vth).to(x.dtype)


def quant_linear(x: torch.Tensor, t: Tensors, name: str, spiking: bool, bias: bool = True) -> torch.Tensor:
    """QuantLinear.forward: spikes on the input, the weight through its stored scales (if any)."""
    w = t[name + ".weight"]
    scales = t.get(name + ".weight_quantizer.scales")
    if scales is not None:
        w = ((w.reshape(w.shape[0], -1, 128) / scales).round() * scales).reshape(w.shape)
    if spiking:
        x = dynamic_spikes(x)
    return F.linear(x, w, t.get(name + ".bias") if bias else None)


def rms(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def heads(x: torch.Tensor, n: int) -> torch.Tensor:
    """[T, n*d] -> [n, T, d]."""
    return x.reshape(x.shape[0], n, -1).transpose(0, 1)


def quantize_sym(x: torch.Tensor) -> torch.Tensor:
    """window_attention.quantize_sym: int8 per vector, scale amax / 127 clamped to [1e-5, 1e4]."""
    scale = (x.abs().amax(-1, keepdim=True).float() / 127).clamp(1e-5, 1e4)
    return (x / scale).round().clamp(-128, 127) * scale


def rope(x: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotate-half RoPE at positions 0..T-1; x is [heads, T, d]."""
    d = x.shape[-1]
    inv_freq = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d)
    freqs = torch.arange(x.shape[-2]).float()[:, None] * inv_freq[None, :]
    emb = torch.cat([freqs, freqs], -1)
    rotated = torch.cat([-x[..., d // 2:], x[..., : d // 2]], -1)
    return x * emb.cos() + rotated * emb.sin()


def swa(x: torch.Tensor, t: Tensors, p: str, cfg: dict, spiking: bool, flash_window: int) -> torch.Tensor:
    """FlashAttention (W8ASpike form when spiking): flash-attn's window_size=(w, 0) lets query i
    see keys i - w .. i."""
    n, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    q, k, v = (heads(quant_linear(x, t, p + f"attn.{c}_proj", spiking), m) for c, m in (("q", n), ("k", nkv), ("v", nkv)))
    q, k = rope(q, cfg["rope_theta"]), rope(k, cfg["rope_theta"])
    k, v = k.repeat_interleave(n // nkv, 0), v.repeat_interleave(n // nkv, 0)
    if spiking:
        q, k, v = dynamic_spikes(q), quantize_sym(k), quantize_sym(v)
    i = torch.arange(x.shape[0])
    visible = (i[None, :] <= i[:, None]) & (i[None, :] >= i[:, None] - flash_window)
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    o = torch.softmax(scores.masked_fill(~visible, float("-inf")), -1) @ v
    return quant_linear(o.transpose(0, 1).reshape(x.shape[0], -1), t, p + "attn.o_proj", spiking, bias=False)


def gla(x: torch.Tensor, t: Tensors, p: str, cfg: dict, spiking: bool) -> torch.Tensor:
    """GatedLinearAttention, the chunk kernel replaced by its recurrence. A low-rank gate is
    merged to full rank (W2 W1) as the W8ASpike conversion does, so only x is spike-coded."""
    n, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    q = F.relu(quant_linear(x, t, p + "attn.q_proj", spiking))
    k = F.relu(quant_linear(x, t, p + "attn.k_proj", spiking))
    v = quant_linear(x, t, p + "attn.v_proj", spiking)
    if p + "attn.gk_proj.0.weight" in t:
        merged = {p + "gk.weight": t[p + "attn.gk_proj.1.weight"] @ t[p + "attn.gk_proj.0.weight"],
                  p + "gk.bias": t[p + "attn.gk_proj.1.bias"]}
        gk = quant_linear(x, merged, p + "gk", spiking)
    else:
        gk = quant_linear(x, t, p + "attn.gk_proj", spiking)
    g = F.logsigmoid(gk) / 16
    q, k, v, g = heads(q, n), heads(k, nkv), heads(v, nkv), heads(g, nkv)
    k, v, g = (z.repeat_interleave(n // nkv, 0) for z in (k, v, g))
    d = q.shape[-1]
    state = torch.zeros(n, d, v.shape[-1])
    outs = []
    for s in range(x.shape[0]):
        state = g[:, s, :, None].exp() * state + k[:, s, :, None] * v[:, s, None, :]
        outs.append(((q[:, s] * d ** -0.5)[:, None, :] @ state)[:, 0])
    o = rms(torch.stack(outs, 1), t[p + "attn.g_norm.weight"], cfg["norm_eps"])
    return quant_linear(o.transpose(0, 1).reshape(x.shape[0], -1), t, p + "attn.o_proj", spiking, bias=False)


def logits(t: Tensors, cfg: dict, ids: list[int], spiking: bool, flash_window: int) -> torch.Tensor:
    """The release's prefill logits [T, vocab]. GLU: gate and up are QuantLinear; down_proj goes
    to swiglu_linear as a bare weight (no spikes, no stored scales)."""
    eps = cfg["norm_eps"]
    x = t["model.embeddings.weight"][torch.tensor(ids)]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        z = rms(x, t[p + "attn_norm.weight"], eps)
        x = x + (swa(z, t, p, cfg, spiking, flash_window) if i in cfg["attn_layers"] else gla(z, t, p, cfg, spiking))
        z = rms(x, t[p + "mlp_norm.weight"], eps)
        gate = quant_linear(z, t, p + "mlp.gate_proj", spiking, bias=False)
        up = quant_linear(z, t, p + "mlp.up_proj", spiking, bias=False)
        x = x + F.linear(gate * torch.sigmoid(gate) * up, t[p + "mlp.down_proj.weight"])
    head = t["model.embeddings.weight"] if cfg.get("tie_word_embeddings") else t["lm_head.weight"]
    return F.linear(rms(x, t["model.norm.weight"], eps), head)
