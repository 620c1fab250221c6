"""The two official checkpoint layouts, told apart by their tensors, never by a flag:

base (V1-7B-base, -sft): the GLA gate is low rank, `attn.gk_proj.0.weight` [r, hidden] and
  `attn.gk_proj.1.{weight,bias}`; plain float projections.
w8aspike (SpikingBrain-7B-W8ASpike): the gate is one full-rank `attn.gk_proj.{weight,bias}`, and
  every projection carries `*.weight_quantizer.scales` [out, in/group, 1] (group 128): the
  weight it computes with is round(W / scale) * scale.

Also the config keys that would change the model: honoured where the model has them, refused
(naming the key) where it does not."""

from __future__ import annotations

from typing import Mapping

from .config import SpikingBrainConfig

SCALES_SUFFIX = ".weight_quantizer.scales"
ACTIVATIONS = ("swish", "silu")  # the MLP gate's activation: SwiGLU in every release


class LayoutError(ValueError):
    """Tensors that fit neither official layout, or a config key the model cannot honour."""


def layout_name(config: SpikingBrainConfig) -> str:
    return "w8aspike" if config.quant_weight_group_size else "base"


def detect_layout(config: SpikingBrainConfig, shapes: Mapping[str, tuple[int, ...]]) -> SpikingBrainConfig:
    """`config` with the gate rank and the stored-scale group the tensors show."""
    update: dict = {}
    gla = [i for i in range(config.num_hidden_layers) if i not in config.swa_layers()]
    if config.model_type == "gla_swa" and gla:
        low, full = (f"model.layers.{gla[0]}.attn.gk_proj.{s}" for s in ("0.weight", "weight"))
        if low in shapes:
            update["gate_low_rank_dim"] = int(shapes[low][0])
        elif full in shapes:
            update["gate_low_rank_dim"] = None
    groups = set()
    for name, shape in shapes.items():
        if not name.endswith(SCALES_SUFFIX):
            continue
        weight = shapes.get(name[: -len(SCALES_SUFFIX)] + ".weight")
        if weight is None or len(shape) != 3 or shape[2] != 1 or shape[0] != weight[0] or weight[1] % shape[1]:
            raise LayoutError(f"tensor '{name}' has shape {list(shape)}: stored weight scales must be "
                              f"[out, in/group, 1] for a weight [out, in]" + (f" (its weight is {list(weight)})" if weight else ""))
        groups.add(weight[1] // shape[1])
    if len(groups) > 1:
        raise LayoutError(f"stored weight scales use several group sizes ({sorted(groups)}); expected one")
    update["quant_weight_group_size"] = groups.pop() if groups else None
    return config.model_copy(update=update)


def tied_names(config: SpikingBrainConfig) -> dict[str, str]:
    """Parameters a checkpoint does not store because they are another's (tie_word_embeddings:
    the LM head is the embedding matrix), with the name that holds them."""
    return {"lm_head.weight": "model.embeddings.weight"} if config.tie_word_embeddings else {}


def check_supported(config: SpikingBrainConfig) -> None:
    """Refuse the config keys whose effect the model does not implement, naming each."""
    if config.use_short_conv:
        raise LayoutError("config key use_short_conv=true is not supported (GLA's short convolutions; no "
                          "SpikingBrain release uses them)")
    if config.hidden_act not in ACTIVATIONS:
        raise LayoutError(f"config key hidden_act={config.hidden_act!r} is not supported (the MLP is SwiGLU: "
                          f"{' or '.join(ACTIVATIONS)})")
    if not config.elementwise_affine:
        raise LayoutError("config key elementwise_affine=false is not supported (the norms carry a gain; the "
                          "releases always store one)")
