"""Reading and writing checkpoints, safely: HF-layout directories (config.json + safetensors,
single file or sharded with an index), `.pt` files read with `weights_only=True` (a dict
{"config", "state_dict"} or a bare state dict), and `.pt2` files from torch.export whose
extra file `config.json` says what model they hold. A pickled whole module is refused unless
the caller trusts it explicitly."""

from __future__ import annotations

import json
import pickle
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from pydantic import ValidationError

from sbcompile.ir import SbirError
from sbcompile.ir.errors import validation_message

from .config import SpikeOptions, SpikingBrainConfig
from .layouts import LayoutError, check_supported, detect_layout, tied_names
from .model import SpikingBrainForCausalLM, build_model


class CheckpointError(SbirError):
    """A checkpoint that cannot be read; the message names the file."""


def validated_config(data: object, source: str | Path) -> SpikingBrainConfig:
    """A config from a JSON object or a `.pt`'s dict, or an error naming the source and the field."""
    if isinstance(data, SpikingBrainConfig):
        return data
    if not isinstance(data, dict):
        raise CheckpointError(f"{source}: the config must be a JSON object of fields, got {type(data).__name__}")
    try:
        return SpikingBrainConfig.model_validate(data)
    except ValidationError as e:
        raise CheckpointError(f"{source}: {validation_message(e)}") from None


def finite(name: str, array: np.ndarray, source: str | Path) -> np.ndarray:
    """A tensor's data, refused when it holds NaN or infinite values (they would quantize to
    extreme codes silently)."""
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = int(np.size(array) - np.isfinite(array).sum())
        raise CheckpointError(f"{source}: tensor '{name}' holds {bad} NaN or infinite values")
    return array


@dataclass
class TensorSource:
    """A tensor's shape and dtype now, its data on demand."""

    shape: tuple[int, ...]
    dtype: str  # numpy dtype name
    load: Callable[[], np.ndarray]


def _numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()


def _from_tensors(tensors: dict[str, torch.Tensor], source: Path) -> dict[str, TensorSource]:
    return {n: TensorSource(tuple(t.shape), str(_numpy(t[:0] if t.dim() else t).dtype), (lambda n=n, t=t: finite(n, _numpy(t), source)))
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
                        try:
                            with safe_open(str(f), framework="pt") as h2:
                                return finite(name, _numpy(h2.get_tensor(name)), f)
                        except CheckpointError:
                            raise
                        except Exception as e:  # safetensors' own error type for a truncated body
                            raise CheckpointError(f"{f}: cannot read tensor '{name}' ({e})") from None
                    dtype = {"BF16": "float32", "F16": "float16", "F32": "float32", "F64": "float64"}.get(sl.get_dtype(), "float32")
                    out[name] = TensorSource(tuple(sl.get_shape()), dtype, load)
        except Exception as e:  # safetensors raises its own SafetensorError, and OSError, ValueError
            raise CheckpointError(f"{f}: not a readable safetensors file ({' '.join(str(e).split())[:200]})") from None
    return out


def read_config(path: Path) -> SpikingBrainConfig:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read config ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: the config must be a JSON object of fields, got {type(data).__name__}")
    if data.get("model_type") not in ("gla_swa", "gla_swa_moe"):
        raise CheckpointError(f"{path}: model_type {data.get('model_type')!r} is not a SpikingBrain model (gla_swa)")
    return validated_config(data, path)


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
    if head_dim < 1:
        raise CheckpointError(f"{source}: a g_norm of width {head_dim}; give --config FILE")
    kv = shapes["model.layers.0.attn.k_proj.weight"][0] if "model.layers.0.attn.k_proj.weight" in shapes else head_dim
    low_rank = f"model.layers.{gla[0]}.attn.gk_proj.0.weight"
    inferred = dict(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                    num_attention_heads=hidden // head_dim, num_key_value_heads=kv // head_dim,
                    intermediate_size=inter, attn_layers=[i for i in range(layers) if i not in gla],
                    gate_low_rank_dim=shapes[low_rank][0] if low_rank in shapes else None)
    config = validated_config(inferred, f"{source} (config inferred from tensor shapes)")
    defaulted = [f for f in ("rope_theta", "sliding_window", "norm_eps", "gate_logit_normalizer", "tie_word_embeddings")
                 if f not in inferred]
    print(f"sbcompile: warning: {source}: no config; inferred {', '.join(inferred)} from tensor shapes; "
          f"{', '.join(f'{f}={getattr(config, f)}' for f in defaulted)} are defaults that shapes cannot tell "
          "(give --config FILE if they differ)", file=sys.stderr)
    return config


def _torch_load(path: Path, trust_pickle: bool) -> object:
    """torch's safe loader first; anything it will not load is refused in our words, unless the
    user consented with --trust-pickle, which loads it as a full pickle."""
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols are not the user's business
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if not _is_pickle(path):
            raise CheckpointError(f"{path}: cannot read (neither a torch checkpoint nor a pickle)") from None
        if not trust_pickle:
            named = re.search(r"GLOBAL ([\w.]+)", str(e))
            what = f" (among them {named.group(1)})" if named else ""
            raise CheckpointError(f"{path}: holds pickled Python objects{what}, which can run code when loaded; "
                                  "save a state dict, safetensors or a .pt2 instead, or pass --trust-pickle if you "
                                  "trust this file") from None
    except Exception as e:  # torch.load raises many kinds (struct.error, EOFError, RuntimeError) on bad bytes
        raise CheckpointError(f"{path}: cannot read ({type(e).__name__}: {_first_line(e)})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001  the user's pickle raised whatever its objects raise
        raise CheckpointError(f"{path}: --trust-pickle: loading the pickle failed ({type(e).__name__}: {_first_line(e)})") from None


def _export_load(path: Path, extra: dict[str, str]) -> "torch.export.ExportedProgram":
    """torch.export.load, quietly: a bad archive is our one-line error, without the traceback
    torch's logger would print first."""
    import logging
    import zipfile

    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a torch.export archive (not a zip file)")
    logger = logging.getLogger("torch.export")
    was = logger.disabled
    logger.disabled = True
    try:
        return torch.export.load(str(path), extra_files=extra)
    except Exception as e:  # torch.export raises many kinds for a bad archive
        why = _first_line(e)
        why = "no exported program in it" if "warnings above" in why else why  # the warnings were torch's log
        raise CheckpointError(f"{path}: not a torch.export archive ({why})") from None
    finally:
        logger.disabled = was


def _is_pickle(path: Path) -> bool:
    """Whether the file (or the data.pkl of torch's zip format) is a well-formed pickle stream,
    read opcode by opcode without executing any of it."""
    import pickletools
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                names = [n for n in z.namelist() if n.endswith("data.pkl")]
                data = z.read(names[0]) if names else b""
        else:
            data = path.read_bytes()
        return bool(data) and any(op.name == "STOP" for op, _, _ in pickletools.genops(data))
    except Exception:  # noqa: BLE001  any malformation means: not a pickle
        return False


def _first_line(e: BaseException) -> str:
    return (str(e).strip() or "-").splitlines()[0]


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
            files = shard_files(index)
        else:
            files = sorted(path.glob("*.safetensors"))
        if not files:
            raise CheckpointError(f"{path}: no .safetensors files")
        return config, _safetensors_sources(files)
    if path.suffix == ".pt2":
        extra = {"config.json": ""}
        ep = _export_load(path, extra)
        if config is None:
            if not extra["config.json"]:
                raise CheckpointError(f"{path}: no config.json among its extra files (export with sbcompile.models.save_pt2)")
            try:
                data = json.loads(extra["config.json"])
            except ValueError as e:
                raise CheckpointError(f"{path}: its config.json is not JSON ({e})") from None
            config = validated_config(data, f"{path}: config.json")
        return config, _from_tensors(dict(ep.state_dict), path)
    obj = _torch_load(path, trust_pickle)
    if isinstance(obj, torch.nn.Module):
        obj = {"config": getattr(obj, "config", None), "state_dict": obj.state_dict()}
    if isinstance(obj, dict) and "state_dict" in obj:
        cfg = obj.get("config")
        if config is None and cfg is not None:
            config = validated_config(cfg, f"{path}: 'config'")
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict or {{'config', 'state_dict'}}")
    tensors = _from_tensors(obj, path)
    if config is None:
        config = infer_config({n: s.shape for n, s in tensors.items()}, str(path))
    return config, tensors


def shard_files(index: Path) -> list[Path]:
    """The shard files a safetensors index names, each inside the checkpoint folder."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{index}: not a safetensors index ({type(e).__name__}: {e})") from None
    if not isinstance(weight_map, dict) or not all(isinstance(f, str) for f in weight_map.values()):
        raise CheckpointError(f"{index}: weight_map must map tensor names to shard file names")
    folder = index.parent.resolve()
    files = set()
    for name in weight_map.values():
        shard = (index.parent / name).resolve()
        if not shard.is_relative_to(folder):
            raise CheckpointError(f"{index}: shard '{name}' lies outside the checkpoint folder; refused")
        if not shard.is_file():
            raise CheckpointError(f"{index}: shard '{name}' does not exist")
        files.add(index.parent / name)
    return sorted(files)


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
