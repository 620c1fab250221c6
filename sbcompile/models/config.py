"""Model configuration in the official HF field names (config.json of `gla_swa` checkpoints),
plus the spiking options, which are ours: they say how a checkpoint is run, not what it holds."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Values are checked where they enter: sizes positive and bounded (a typo of a few digits is an
# error, not an allocation of terabytes), real numbers finite.
Size = Annotated[int, Field(ge=1, le=1 << 24)]
Count = Annotated[int, Field(ge=0, le=1 << 24)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class SpikingBrainConfig(BaseModel):
    """`model_type` "gla_swa" is SpikingBrain-7B (official). "gla_swa_moe" is our name for the
    76B-style hybrid MoE, whose checkpoints are not public: its fields are documented assumptions."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model_type: Literal["gla_swa", "gla_swa_moe"] = "gla_swa"
    vocab_size: Size = 152064
    hidden_size: Size = 3584
    num_hidden_layers: Size = 28
    num_attention_heads: Size = 28
    num_key_value_heads: Size = 4
    intermediate_size: Size = 18944
    rope_theta: Positive = 1_000_000.0
    sliding_window: Size = 4096
    norm_eps: Positive = 1e-6
    gate_logit_normalizer: Positive = 16.0
    gate_low_rank_dim: Size | None = 16  # None: a full-rank gate (the W8ASpike release)
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
    num_experts: Count = 0
    num_experts_per_tok: Size = 1
    shared_expert: bool = True
    num_sink_tokens: Count = 0
    max_position_embeddings: Size | None = None  # the context it was trained on (131072 for 7B); None: unknown

    @model_validator(mode="after")
    def _consistent(self) -> "SpikingBrainConfig":
        """Fields that must agree with each other, checked before a model is built from them."""
        n = self.num_hidden_layers
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads {self.num_attention_heads}")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"num_attention_heads {self.num_attention_heads} is not a multiple of "
                             f"num_key_value_heads {self.num_key_value_heads}")
        for name, layers, low, high in (("attn_layers", self.attn_layers or [], 0, n - 1),
                                        ("full_attn_layers", self.full_attn_layers, 1, n),
                                        ("dense_ffn_layers", self.dense_ffn_layers, 1, n)):
            bad = [i for i in layers if not low <= i <= high]
            if bad:
                raise ValueError(f"{name} {bad} lie outside the layers {low}..{high}")
        if self.num_experts and self.num_experts_per_tok > self.num_experts:
            raise ValueError(f"num_experts_per_tok {self.num_experts_per_tok} exceeds num_experts {self.num_experts}")
        return self

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def swa_layers(self) -> list[int]:
        return self.attn_layers if self.attn_layers is not None else list(range(1, self.num_hidden_layers, 2))


class SpikeOptions(BaseModel):
    """How activations are spike-coded (as the W8ASpike release codes them, by default)."""

    model_config = ConfigDict(frozen=True)

    enabled: bool = True
    k: Positive = 3.0
    spike_down_proj: bool = False  # the release leaves down_proj unspiked; the paper spikes all projections
    spike_gate_inner: bool = False  # also spike the low-rank gate's rank-r intermediate (the release does not)
    swa_query: bool = True  # the release spikes the post-RoPE SWA query per head (128 channels)
    kv_bits: int | None = 8  # the release rounds SWA keys and values to int8 per vector (None: off)
    weight_bits: int | None = None  # fake-quantize weights to this many bits in PyTorch (None: float)
    group: int = 128
    clamp: bool = True  # clamp out-of-range weight codes (the release does not)
