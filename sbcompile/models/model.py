"""The SpikingBrain family: hybrid blocks of linear attention (GLA), windowed/full softmax
attention and SwiGLU or MoE feed-forward, pre-RMSNorm, untied LM head.

7B ("gla_swa"): GLA on even layers, SWA on odd layers. 76B-style ("gla_swa_moe"): every layer
runs GLA (sigmoid feature maps, gate tied to the key: decay = 1 - k) in parallel with SWA, or
with full attention at the 1-indexed layers in `full_attn_layers`; both branch outputs are
RMS-normalised and summed (the paper's merge weights w1, w2 live in those norms' gains) before
one output projection."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .config import SpikeOptions, SpikingBrainConfig
from .gla import GatedLinearAttention, GLACore
from .linear import SpikingLinear
from .mlp import LinearFactory, MoEFeedForward, SwiGLU
from .norm import HeadRMSNorm, RMSNorm
from .spiking import SpikeEncoder, VectorQuant
from .swa import RotaryEmbedding, SlidingWindowAttention, WindowAttentionCore


def linear_factory(cfg: SpikingBrainConfig, spikes: SpikeOptions, spiking: bool, stored: bool = True) -> LinearFactory:
    """Projections with a spike-coded input if `spiking` (and spiking is on). In the W8ASpike
    layout every projection holds stored weight scales; `stored=False` computes with the float
    weight anyway (the release's down_proj)."""
    group = cfg.quant_weight_group_size

    def make(n_in: int, n_out: int, bias: bool) -> nn.Linear:
        if not spikes.enabled and group is None:
            return nn.Linear(n_in, n_out, bias=bias)
        return SpikingLinear(n_in, n_out, bias, encoder=SpikeEncoder(spikes.k) if spiking and spikes.enabled else None,
                             weight_bits=spikes.weight_bits if spikes.enabled else None, group=spikes.group,
                             clamp=spikes.clamp, stored_group=group, use_stored=stored)
    return make


class HybridAttention(nn.Module):
    """The 76B-style parallel hybrid: GLA and softmax attention on the same input."""

    def __init__(self, cfg: SpikingBrainConfig, window: int | None, linear: LinearFactory) -> None:
        super().__init__()
        h, d = cfg.hidden_size, cfg.head_dim
        kv = cfg.num_key_value_heads * d
        self.q_proj, self.k_proj, self.v_proj = linear(h, h, True), linear(h, kv, True), linear(h, kv, True)
        self.la_q_proj, self.la_k_proj, self.la_v_proj = linear(h, h, True), linear(h, kv, True), linear(h, kv, True)
        self.rotary = RotaryEmbedding(d, cfg.rope_theta)
        self.core = WindowAttentionCore(cfg.num_attention_heads, cfg.num_key_value_heads, d, window, cfg.num_sink_tokens)
        self.la_core = GLACore(cfg.num_attention_heads, cfg.num_key_value_heads, d)
        self.la_norm = HeadRMSNorm(d, cfg.norm_eps)
        self.sa_norm = HeadRMSNorm(d, cfg.norm_eps)
        self.o_proj = linear(h, h, False)

    def forward(self, x: torch.Tensor, state: dict | None = None) -> torch.Tensor:
        kp = self.la_k_proj(x)
        q, k, v = torch.sigmoid(self.la_q_proj(x)), torch.sigmoid(kp), self.la_v_proj(x)
        g = nn.functional.logsigmoid(-kp)  # log(1 - sigmoid(kp)): the decay tied to the key
        sq, sk, sv = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        if state is None:
            la = self.la_core(q, k, v, g)
            sa = self.core(self.rotary(sq), self.rotary(sk), sv)
        else:
            la, state["S"] = self.la_core.forward_with_state(q, k, v, g, state.get("S"))
            pos = state.get("pos", 0)
            sa = self.core.forward_with_state(self.rotary(sq, pos), self.rotary(sk, pos), sv, state)
            state["pos"] = pos + x.shape[-2]
        return self.o_proj(self.la_norm(la) + self.sa_norm(sa))


class HybridBlock(nn.Module):
    def __init__(self, cfg: SpikingBrainConfig, index: int, spikes: SpikeOptions) -> None:
        super().__init__()
        linear = linear_factory(cfg, spikes, True)
        down = linear_factory(cfg, spikes, spikes.spike_down_proj, stored=spikes.spike_down_proj)
        h = cfg.hidden_size
        self.attn_norm = RMSNorm(h, cfg.norm_eps)
        if cfg.model_type == "gla_swa":
            if index in cfg.swa_layers():
                w8 = spikes.enabled
                self.attn = SlidingWindowAttention(
                    h, cfg.num_attention_heads, cfg.num_key_value_heads, window=cfg.sliding_window,
                    theta=cfg.rope_theta, linear=linear,
                    query_spikes=SpikeEncoder(spikes.k, cfg.head_dim) if w8 and spikes.swa_query else None,
                    kv_quant=VectorQuant(spikes.kv_bits, cfg.head_dim) if w8 and spikes.kv_bits else None)
            else:
                self.attn = GatedLinearAttention(h, cfg.num_attention_heads, cfg.num_key_value_heads,
                                                 gate_rank=cfg.gate_low_rank_dim, normalizer=cfg.gate_logit_normalizer,
                                                 eps=cfg.norm_eps, linear=linear,
                                                 gate_inner=linear_factory(cfg, spikes, spikes.spike_gate_inner))
        else:
            full = (index + 1) in cfg.full_attn_layers
            self.attn = HybridAttention(cfg, None if full else cfg.sliding_window, linear)
        self.mlp_norm = RMSNorm(h, cfg.norm_eps)
        if cfg.num_experts and (index + 1) not in cfg.dense_ffn_layers:
            self.mlp = MoEFeedForward(h, cfg.intermediate_size, cfg.num_experts, cfg.num_experts_per_tok,
                                      cfg.shared_expert, linear, down)
        else:
            self.mlp = SwiGLU(h, cfg.intermediate_size, linear, down)

    def forward(self, x: torch.Tensor, state: dict | None = None) -> torch.Tensor:
        h = x + self.attn(self.attn_norm(x), state)
        return h + self.mlp(self.mlp_norm(h))


class SpikingBrainModel(nn.Module):
    def __init__(self, cfg: SpikingBrainConfig, spikes: SpikeOptions) -> None:
        super().__init__()
        self.embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(HybridBlock(cfg, i, spikes) for i in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.norm_eps)

    def forward(self, input_ids: torch.Tensor, state: list[dict] | None = None) -> torch.Tensor:
        x = self.embeddings(input_ids)
        for i, layer in enumerate(self.layers):
            x = layer(x, None if state is None else state[i])
        return self.norm(x)


class SpikingBrainForCausalLM(nn.Module):
    """forward(input_ids [batch, seq] or [seq], state) -> (logits, state). Pass the returned state
    back in to decode token by token; `None` starts a new sequence (prefill)."""

    def __init__(self, cfg: SpikingBrainConfig, spikes: SpikeOptions | None = None) -> None:
        super().__init__()
        self.config = cfg
        self.spikes = spikes or SpikeOptions()
        self.model = SpikingBrainModel(cfg, self.spikes)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embeddings.weight

    def new_state(self) -> list[dict[str, Any]]:
        return [{} for _ in range(self.config.num_hidden_layers)]

    def forward(self, input_ids: torch.Tensor, state: list[dict] | None = None) -> tuple[torch.Tensor, list[dict] | None]:
        return self.lm_head(self.model(input_ids, state)), state


LEAF_MODULES: tuple[type, ...] = (nn.Embedding, RMSNorm, HeadRMSNorm, SpikeEncoder, VectorQuant, SpikingLinear,
                                  nn.Linear, GLACore, RotaryEmbedding, WindowAttentionCore, MoEFeedForward)


def build_model(cfg: SpikingBrainConfig, spikes: SpikeOptions | None = None, device: str = "cpu") -> SpikingBrainForCausalLM:
    """`device="meta"` builds the model without memory for weights (presets, 7B/76B compiles)."""
    with torch.device(device):
        return SpikingBrainForCausalLM(cfg, spikes)
