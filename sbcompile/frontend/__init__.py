"""The single entry point from an input on the command line to a Module: a `.sbir` file or an
sbcompile output directory, a preset name, an HF-layout checkpoint directory, a `.pt` or a `.pt2`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sbcompile.artifact import MODULE_FILE, WEIGHTS_FILE
from sbcompile.ir import Module, SbirError, WeightStore, parse_file


@dataclass(frozen=True)
class FrontendOptions:
    spiking: bool = True
    k: float = 3.0
    config: str | None = None
    trust_pickle: bool = False


def load_sbir(path: Path) -> Module:
    """A `.sbir` file, with its weights when a `weights.safetensors` (or `<stem>.safetensors`)
    lies beside it."""
    module = parse_file(path, check=False)
    for candidate in (path.with_suffix(".safetensors"), path.parent / WEIGHTS_FILE):
        if candidate.exists():
            module.weights = WeightStore.load(str(candidate))
            break
    return module


def load(source: str, options: FrontendOptions = FrontendOptions()) -> Module:
    """Any input kind the command accepts, as an unverified Module."""
    path = Path(source)
    if path.is_dir() and (path / MODULE_FILE).exists():
        return load_sbir(path / MODULE_FILE)
    if path.suffix == ".sbir":
        if not path.exists():
            raise SbirError(f"{source}: no such file")
        return load_sbir(path)
    if path.suffix == ".nir":
        from .nir_import import load_nir

        return load_nir(path)  # --dt re-discretises after loading (cli: set_dt)
    if path.suffix == ".net":
        from .netx_import import load_netx

        return load_netx(path)
    from sbcompile.models import PRESETS, SpikeOptions

    spikes = SpikeOptions(enabled=options.spiking, k=options.k)
    if source in PRESETS:
        from .spikingbrain import trace_spikingbrain

        return trace_spikingbrain(PRESETS[source], spikes, None, source)
    from sbcompile.models.random_weights import SEED_ATTR, parse_spec

    if (spec := parse_spec(source)) is not None and spec[0] in PRESETS:
        from .spikingbrain import trace_spikingbrain

        paper = spec[2] and spec[2].model_copy(update={"enabled": options.spiking, "k": options.k})
        module = trace_spikingbrain(PRESETS[spec[0]], paper or spikes, None, spec[0])
        module.attrs[SEED_ATTR] = spec[1]  # its shape-only weights are drawn where it runs
        return module
    if not path.exists():
        raise SbirError(f"{source}: no such file or directory (nor a preset: {', '.join(PRESETS)})")
    if path.is_dir() or path.suffix in (".pt", ".pth", ".bin", ".pt2"):
        from sbcompile.models.loading import CheckpointError, read_checkpoint

        from .spikingbrain import trace_spikingbrain

        try:
            config, tensors = read_checkpoint(path, options.config, options.trust_pickle)
        except CheckpointError as e:
            raise SbirError(str(e)) from None
        module = trace_spikingbrain(config, spikes, tensors, path.stem if path.is_file() else path.resolve().name)
        if path.is_dir():
            from sbcompile.tokenizer import attach_tokenizer

            attach_tokenizer(module, path, config.vocab_size)
        return module
    raise SbirError(f"{source}: unsupported input (expected a .sbir file, an output directory, a checkpoint "
                    f"directory, a .pt or .pt2 file, or a preset)")
