"""Token streams for passes that run the module (calibration, evaluation): a text file read as
bytes for byte-level models, else as whitespace-separated token ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sbcompile.ir import Module, SbirError


def read_tokens(module: Module, path: str, limit: int, who: str) -> np.ndarray:
    if not path:
        raise SbirError(f"{who}: give a text file (text=FILE)")
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise SbirError(f"{who}: {path}: {e.strerror}") from None
    if module.attrs.get("tokenizer") == "bytes":
        tokens = np.frombuffer(data, np.uint8).astype(np.int32)
    else:
        try:
            tokens = np.array([int(t) for t in data.split()], np.int32)
        except ValueError:
            raise SbirError(f"{who}: {path}: expected whitespace-separated token ids (the module has no byte tokenizer)") from None
    if tokens.size < 2:
        raise SbirError(f"{who}: {path}: needs at least 2 tokens")
    return tokens[:limit] if limit > 0 else tokens


def require_real_weights(module: Module, who: str) -> None:
    if module.weights.has_fake:
        raise SbirError(f"{who}: module @{module.name} has fake weights (traced without a checkpoint); it needs real ones")
