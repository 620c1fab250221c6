"""Model configuration in the official HF field names (config.json of `gla_swa` checkpoints),
plus the spiking options, which are ours: they say how a checkpoint is run, not what it holds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SpikingBrainConfig(BaseModel):
    """`model_type` "gla_swa" is SpikingBrain-7B (official). "gla_swa_moe" is our name for the
    76B-style hybrid MoE, whose checkpoints are not public: its fields are documented assumptions."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model_type: Literal["gla_swa", "gla_swa_moe"] = "gla_swa"
    vocab_size: int = 152064
    hidden_size: int = 3584
    num_hidden_layers: int = 28
    num_attention_heads: int = 28
    num_key_value_heads: int = 4
    intermediate_size: int = 18944
    rope_theta: float = 1_000_000.0
    sliding_window: int = 4096
    norm_eps: float = 1e-6
    gate_logit_normalizer: float = 16.0
    gate_low_rank_dim: int | None = 16  # None: a full-rank gate (the W8ASpike release)
    tie_word_embeddings: bool = False
    hidden_act: str = "swish"  # the MLP's gate activation; swish (= silu) is the only one SpikingBrain uses
    use_short_conv: bool = False  # q/k/v short convolutions in GLA (unused by every release)
    elementwise_affine: bool = True  # norms carry a gain (every release)
    # W8ASpike layout: every projection carries stored weight scales, one per row and group of this
    # many inputs (`*.weight_quantizer.scales`); set from the checkpoint's tensors (models/layouts.py)
    quant_weight_group_size: int | None = None
    attn_layers: list[int] | None = None  # SWA layers; default: the odd ones (hard-coded upstream)
    # 76B-style fields (ours): 1-indexed layers with full attention, dense-FFN layers, experts, sinks
    full_attn_layers: list[int] = Field(default_factory=list)
    dense_ffn_layers: list[int] = Field(default_factory=list)
    num_experts: int = 0
    num_experts_per_tok: int = 1
    shared_expert: bool = True
    num_sink_tokens: int = 0

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def swa_layers(self) -> list[int]:
        return self.attn_layers if self.attn_layers is not None else list(range(1, self.num_hidden_layers, 2))


class SpikeOptions(BaseModel):
    """How activations are spike-coded (as the W8ASpike release codes them, by default)."""

    model_config = ConfigDict(frozen=True)

    enabled: bool = True
    k: float = 3.0
    spike_down_proj: bool = False  # the release leaves down_proj unspiked; the paper spikes all projections
    spike_gate_inner: bool = False  # also spike the low-rank gate's rank-r intermediate (the release does not)
    swa_query: bool = True  # the release spikes the post-RoPE SWA query per head (128 channels)
    kv_bits: int | None = 8  # the release rounds SWA keys and values to int8 per vector (None: off)
    weight_bits: int | None = None  # fake-quantize weights to this many bits in PyTorch (None: float)
    group: int = 128
    clamp: bool = True  # clamp out-of-range weight codes (the release does not)
