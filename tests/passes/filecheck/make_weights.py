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


def main() -> None:
    save_file({"w.weight": np.random.default_rng(1).normal(0, 1, (4, 4)).astype(np.float32)},
              str(HERE / "quantize.safetensors"))
    for name in ("calibrate", "evaluate"):
        save_file(lm(np.random.default_rng(2)), str(HERE / f"{name}.safetensors"))


if __name__ == "__main__":
    main()
