"""SpikingBrain models (presets, checkpoints) -> sbir. Models are built on the meta device and
traced; weights are read lazily from the checkpoint, or are fake (shape only) for presets."""

from __future__ import annotations

import re

import numpy as np
import torch

from sbcompile.ir import Module, SbirError, Type, tensor
from sbcompile.models import LEAF_MODULES, SpikeOptions, SpikingBrainConfig, build_model
from sbcompile.models.layouts import layout_name, tied_names
from sbcompile.models.loading import TensorSource

from .lowerings import LOWERINGS
from .trace import trace_module

_IR_DTYPE = {"float32": "f32", "float16": "f16", "float64": "f64", "int8": "i8", "int32": "i32", "int64": "i64"}


def trace_spikingbrain(config: SpikingBrainConfig, spikes: SpikeOptions, tensors: dict[str, TensorSource] | None,
                       name: str) -> Module:
    model = build_model(config, spikes, device="meta")

    def add_weight(module: Module, path: str, param: torch.Tensor) -> None:
        if tensors is None:
            module.weights.add_fake(path, tuple(param.shape), "f32")
            return
        src = tensors.get(path)
        if src is None:
            raise SbirError(f"checkpoint has no tensor '{path}'")
        if tuple(src.shape) != tuple(param.shape):
            raise SbirError(f"checkpoint tensor '{path}' has shape {list(src.shape)}, the config implies {list(param.shape)}")
        module.weights.add_lazy(path, src.shape, _IR_DTYPE.get(src.dtype, "f32"), lambda s=src: np.asarray(s.load(), np.float32))

    attrs = {"model_type": config.model_type, "vocab": config.vocab_size, "hidden": config.hidden_size,
             "layers": config.num_hidden_layers, "spiking": spikes.enabled}
    if spikes.enabled:
        attrs["k"] = spikes.k
    if tensors is not None:
        attrs["layout"] = layout_name(config)
    if config.vocab_size == 256:
        attrs["tokenizer"] = "bytes"
    if config.max_position_embeddings is not None:  # `sbcompile run` warns past the trained context
        attrs["context"] = config.max_position_embeddings
    module = trace_module(model, name=re.sub(r"[^A-Za-z0-9_.$-]", "_", name), inputs={"input_ids": tensor(["seq"], "i32")},
                          leaves=LEAF_MODULES, lowerings=LOWERINGS, add_weight=add_weight, strip_prefix="model.",
                          concrete_args={"state": None}, attrs=attrs, aliases=tied_names(config))
    if config.quant_weight_group_size and tensors is not None:
        module.attrs["codes_outside_int8"] = sum(int(op.attrs.get("quant.overflow", 0)) for op in module.ops)
    return module


def trace_torch(model: torch.nn.Module, inputs: dict[str, Type], name: str = "module") -> Module:
    """Any PyTorch module built from supported pieces (Linear, Embedding, ReLU, SiLU, Sigmoid,
    RMSNorm, the spike encoder, the attention cores, elementwise arithmetic), with its weights."""

    def add_weight(module: Module, path: str, param: torch.Tensor) -> None:
        module.weights.add(path, param.detach().float().cpu().numpy())

    return trace_module(model, name=name, inputs=inputs, leaves=tuple(LOWERINGS), lowerings=LOWERINGS,
                        add_weight=add_weight)
