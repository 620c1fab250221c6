"""Reading and writing checkpoints, safely: HF-layout directories (config.json + safetensors,
single file or sharded with an index), `.pt` files read with `weights_only=True` (a dict
{"config", "state_dict"} or a bare state dict), and `.pt2` files from torch.export whose
extra file `config.json` says what model they hold. A pickled whole module is refused unless
the caller trusts it explicitly."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .config import SpikeOptions, SpikingBrainConfig
from .layouts import LayoutError, check_supported, detect_layout, tied_names
from .model import SpikingBrainForCausalLM, build_model


class CheckpointError(Exception):
    """A checkpoint that cannot be read; the message names the file."""


@dataclass
class TensorSource:
    """A tensor's shape and dtype now, its data on demand."""

    shape: tuple[int, ...]
    dtype: str  # numpy dtype name
    load: Callable[[], np.ndarray]


def _numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()


def _from_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, TensorSource]:
    return {n: TensorSource(tuple(t.shape), str(_numpy(t[:0] if t.dim() else t).dtype), (lambda t=t: _numpy(t)))
            for n, t in tensors.items()}


def _safetensors_sources(files: list[Path]) -> dict[str, TensorSource]:
    from safetensors import safe_open

    out: dict[str, TensorSource] = {}
    for f in files:
        try:
            with safe_open(str(f), framework="pt") as h:
                for name in h.keys():
                    sl = h.get_slice(name)

                    def load(f: Path = f, name: str = name) -> np.ndarray:
                        with safe_open(str(f), framework="pt") as h2:
                            return _numpy(h2.get_tensor(name))
                    dtype = {"BF16": "float32", "F16": "float16", "F32": "float32", "F64": "float64"}.get(sl.get_dtype(), "float32")
                    out[name] = TensorSource(tuple(sl.get_shape()), dtype, load)
        except (OSError, ValueError, RuntimeError) as e:
            raise CheckpointError(f"{f}: not a readable safetensors file ({e})") from None
    return out


def read_config(path: Path) -> SpikingBrainConfig:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: cannot read config ({e})") from None
    if data.get("model_type") not in ("gla_swa", "gla_swa_moe"):
        raise CheckpointError(f"{path}: model_type {data.get('model_type')!r} is not a SpikingBrain model (gla_swa)")
    try:
        return SpikingBrainConfig.model_validate(data)
    except ValueError as e:
        raise CheckpointError(f"{path}: {str(e).splitlines()[0]}") from None


def infer_config(shapes: dict[str, tuple[int, ...]], source: str) -> SpikingBrainConfig:
    """A 7B-family config from tensor shapes, where they determine it: layer count, widths, GQA
    heads (from the g_norm width), gate rank, and which layers are GLA. Otherwise an error."""
    try:
        vocab, hidden = shapes["model.embeddings.weight"]
        layers = 1 + max(int(n.split(".")[2]) for n in shapes if n.startswith("model.layers."))
        inter = shapes["model.layers.0.mlp.gate_proj.weight"][0]
        gla = [i for i in range(layers) if f"model.layers.{i}.attn.g_norm.weight" in shapes]
        head_dim = shapes[f"model.layers.{gla[0]}.attn.g_norm.weight"][0] if gla else None
    except (KeyError, ValueError, IndexError):
        raise CheckpointError(f"{source}: cannot infer the model config from tensor shapes; give --config FILE") from None
    if head_dim is None:
        raise CheckpointError(f"{source}: no GLA layer to infer the head width from; give --config FILE")
    kv = shapes["model.layers.0.attn.k_proj.weight"][0] if "model.layers.0.attn.k_proj.weight" in shapes else head_dim
    low_rank = f"model.layers.{gla[0]}.attn.gk_proj.0.weight"
    return SpikingBrainConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                              num_attention_heads=hidden // head_dim, num_key_value_heads=kv // head_dim,
                              intermediate_size=inter, attn_layers=[i for i in range(layers) if i not in gla],
                              gate_low_rank_dim=shapes[low_rank][0] if low_rank in shapes else None)


def _torch_load(path: Path, trust_pickle: bool) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "safe_globals" not in str(e):  # a real pickle of some object, not just unreadable bytes
            raise CheckpointError(f"{path}: cannot read ({str(e).splitlines()[0]})") from None
        if not trust_pickle:
            raise CheckpointError(f"{path}: holds pickled Python objects (a whole module?), which can run code when "
                                  "loaded; save a state dict, safetensors or a .pt2 instead, or pass --trust-pickle "
                                  "if you trust this file") from None
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch.load raises many kinds (struct.error, EOFError, RuntimeError) on bad bytes
        raise CheckpointError(f"{path}: cannot read ({type(e).__name__}: {(str(e) or '-').splitlines()[0]})") from None


def read_checkpoint(source: str | Path, config_path: str | Path | None = None,
                    trust_pickle: bool = False) -> tuple[SpikingBrainConfig, dict[str, TensorSource]]:
    """(config, tensors by official name) from any checkpoint kind; tensors load lazily. The
    config follows the layout the tensors show (base or W8ASpike, models/layouts.py)."""
    config, tensors = _read_any(source, config_path, trust_pickle)
    try:
        config = detect_layout(config, {n: t.shape for n, t in tensors.items()})
        check_supported(config)
    except LayoutError as e:
        raise CheckpointError(f"{source}: {e}") from None
    return config, tensors


def _read_any(source: str | Path, config_path: str | Path | None,
              trust_pickle: bool) -> tuple[SpikingBrainConfig, dict[str, TensorSource]]:
    path = Path(source)
    config = read_config(Path(config_path)) if config_path else None
    if path.is_dir():
        if config is None:
            if not (path / "config.json").exists():
                raise CheckpointError(f"{path}: no config.json (not an HF-layout checkpoint directory)")
            config = read_config(path / "config.json")
        index = path / "model.safetensors.index.json"
        if index.exists():
            try:
                files = sorted({path / f for f in json.loads(index.read_text())["weight_map"].values()})
            except (KeyError, json.JSONDecodeError) as e:
                raise CheckpointError(f"{index}: not a safetensors index ({e})") from None
        else:
            files = sorted(path.glob("*.safetensors"))
        if not files:
            raise CheckpointError(f"{path}: no .safetensors files")
        return config, _safetensors_sources(files)
    if path.suffix == ".pt2":
        extra = {"config.json": ""}
        try:
            ep = torch.export.load(str(path), extra_files=extra)
        except Exception as e:  # torch.export raises many kinds for a bad archive
            raise CheckpointError(f"{path}: not a torch.export archive ({str(e).splitlines()[0]})") from None
        if config is None:
            if not extra["config.json"]:
                raise CheckpointError(f"{path}: no config.json among its extra files (export with sbcompile.models.save_pt2)")
            config = SpikingBrainConfig.model_validate(json.loads(extra["config.json"]))
        return config, _from_tensors(dict(ep.state_dict))
    obj = _torch_load(path, trust_pickle)
    if isinstance(obj, torch.nn.Module):
        obj = {"config": getattr(obj, "config", None), "state_dict": obj.state_dict()}
    if isinstance(obj, dict) and "state_dict" in obj:
        cfg = obj.get("config")
        if config is None and cfg is not None:
            config = cfg if isinstance(cfg, SpikingBrainConfig) else SpikingBrainConfig.model_validate(cfg)
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict or {{'config', 'state_dict'}}")
    tensors = _from_tensors(obj)
    if config is None:
        config = infer_config({n: s.shape for n, s in tensors.items()}, str(path))
    return config, tensors


def load_model(source: str | Path, spikes: SpikeOptions | None = None, config_path: str | Path | None = None,
               trust_pickle: bool = False) -> SpikingBrainForCausalLM:
    """A PyTorch model with the checkpoint's weights."""
    config, tensors = read_checkpoint(source, config_path, trust_pickle)
    model = build_model(config, spikes)
    state = {n: torch.from_numpy(np.ascontiguousarray(t.load())) for n, t in tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [n for n in missing if n not in tied_names(config)]
    if missing or unexpected:
        raise CheckpointError(f"{source}: weights do not match the config (missing: {missing[:3]}, unexpected: {unexpected[:3]})")
    return model.eval()


def save_pt(model: SpikingBrainForCausalLM, path: str | Path) -> None:
    torch.save({"config": model.config.model_dump(), "state_dict": model.state_dict()}, path)


def save_hf(model: SpikingBrainForCausalLM, directory: str | Path, shard_bytes: int | None = None) -> None:
    """config.json and safetensors in the official layout (sharded with an index above `shard_bytes`)."""
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps(model.config.model_dump(), indent=2) + "\n")
    state = {n: t.detach().contiguous() for n, t in model.state_dict().items() if n not in tied_names(model.config)}
    if shard_bytes is None:
        save_file(state, str(d / "model.safetensors"))
        return
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for n, t in state.items():
        if size and size + t.numel() * t.element_size() > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][n] = t
        size += t.numel() * t.element_size()
    weight_map = {}
    for i, shard in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, str(d / name))
        weight_map.update({n: name for n in shard})
    (d / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}, indent=2) + "\n")


def save_pt2(model: SpikingBrainForCausalLM, path: str | Path, example_tokens: int = 8) -> None:
    """torch.export of the model at an example length (the chunked GLA loop specialises it); the
    config rides along as an extra file, and the frontend re-traces from config and weights with
    the sequence length symbolic."""
    ids = torch.zeros(1, example_tokens, dtype=torch.long)
    ep = torch.export.export(model, (ids,))
    torch.export.save(ep, str(path), extra_files={"config.json": json.dumps(model.config.model_dump())})
