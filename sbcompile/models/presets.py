"""Named configurations, buildable on the meta device without weights."""

from __future__ import annotations

from .config import SpikingBrainConfig

PRESETS: dict[str, SpikingBrainConfig] = {
    "spikingbrain-7b": SpikingBrainConfig(),
    # 76B-style: widths are our assumption (the Qwen2.5-7B shape), which with 16 routed experts
    # (top-1) and a shared expert gives about 76B parameters and 12B active per token.
    "spikingbrain-76b": SpikingBrainConfig(
        model_type="gla_swa_moe", full_attn_layers=[7, 14, 21, 28], dense_ffn_layers=[1, 2, 3, 5, 7, 9, 11],
        num_experts=16, num_experts_per_tok=1, shared_expert=True, num_sink_tokens=128, gate_low_rank_dim=None),
    "spikingbrain-tiny": SpikingBrainConfig(
        vocab_size=256, hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=384, sliding_window=64, rope_theta=10000.0),
}
