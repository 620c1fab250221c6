"""The single entry point from an input on the command line to a Module."""

from __future__ import annotations

from pathlib import Path

from sbcompile.artifact import MODULE_FILE, WEIGHTS_FILE
from sbcompile.ir import Module, SbirError, WeightStore, parse_file


def load_sbir(path: Path) -> Module:
    """A `.sbir` file, with its weights when a `weights.safetensors` (or `<stem>.safetensors`)
    lies beside it."""
    module = parse_file(path, check=False)
    for candidate in (path.with_suffix(".safetensors"), path.parent / WEIGHTS_FILE):
        if candidate.exists():
            module.weights = WeightStore.load(str(candidate))
            break
    return module


def load(source: str) -> Module:
    """Any input kind the command accepts, as an unverified Module."""
    path = Path(source)
    if path.is_dir() and (path / MODULE_FILE).exists():
        return load_sbir(path / MODULE_FILE)
    if path.suffix == ".sbir":
        if not path.exists():
            raise SbirError(f"{source}: no such file")
        return load_sbir(path)
    if not path.exists():
        raise SbirError(f"{source}: no such file or directory")
    raise SbirError(f"{source}: unsupported input (expected a .sbir file or an sbcompile output directory)")
