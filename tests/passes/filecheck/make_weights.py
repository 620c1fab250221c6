"""Writes the weights some FileCheck inputs read (`<name>.safetensors` beside `<name>.sbir`):
small, seeded, so the files in git can be rebuilt exactly. Run from the repository root:
`.venv/bin/python tests/passes/filecheck/make_weights.py`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

HERE = Path(__file__).parent


def lm(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A byte-level model of width 8: embedding, norm, one projection to the 256 logits."""
    return {"embed.weight": rng.normal(0, 1, (256, 8)).astype(np.float32),
            "norm.weight": np.ones(8, np.float32),
            "head.weight": rng.normal(0, 0.5, (256, 8)).astype(np.float32)}


def fuse_projections(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """q, k, v, o and f as float [out, 4] weights; g and h already quantized: g with one scale per
    2 input channels, h with 4-bit codes and one scale per row."""
    float_weights = {f"{n}.weight": rng.normal(0, 1, (out, 4)).astype(np.float32)
                     for n, out in (("q", 4), ("k", 2), ("v", 2), ("o", 4), ("f", 4))}
    return {**float_weights,
            "g.codes": rng.integers(-127, 128, (4, 4)).astype(np.int8),
            "g.scale": rng.uniform(0.01, 0.1, (4, 2)).astype(np.float32),
            "h.codes": rng.integers(-7, 8, (2, 4)).astype(np.int8),
            "h.scale": rng.uniform(0.01, 0.1, (2, 1)).astype(np.float32)}


def main() -> None:
    save_file({"w.weight": np.random.default_rng(1).normal(0, 1, (4, 4)).astype(np.float32)},
              str(HERE / "quantize.safetensors"))
    for name in ("calibrate", "evaluate"):
        save_file(lm(np.random.default_rng(2)), str(HERE / f"{name}.safetensors"))
    save_file(fuse_projections(np.random.default_rng(3)), str(HERE / "fuse-projections.safetensors"))


if __name__ == "__main__":
    main()
