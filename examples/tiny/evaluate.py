"""Bits per byte of the tiny model on the held-out text: float, spiking (W8ASpike-style:
spike-coded activations), and spiking with int8 fake-quantized weights (per group of 128).

    .venv/bin/python examples/tiny/evaluate.py
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from sbcompile.models import SpikeOptions
from sbcompile.models.loading import load_model

HERE = Path(__file__).parent


def bits_per_byte(spikes: SpikeOptions, text: bytes) -> float:
    model = load_model(HERE, spikes)
    ids = torch.tensor(list(text), dtype=torch.long)[None]
    with torch.no_grad():
        logits, _ = model(ids[:, :-1])
    return torch.nn.functional.cross_entropy(logits[0].double(), ids[0, 1:]).item() / math.log(2)


def main() -> None:
    torch.set_num_threads(2)
    text = (HERE / "eval.txt").read_bytes()
    rows = {
        "float": bits_per_byte(SpikeOptions(enabled=False), text),
        "spiking (k=3)": bits_per_byte(SpikeOptions(enabled=True), text),
        "spiking + int8 weights": bits_per_byte(SpikeOptions(enabled=True, weight_bits=8), text),
    }
    print(f"held-out text: {len(text)} bytes")
    print("| model | bits/byte | vs float |")
    print("|---|---|---|")
    for name, bpb in rows.items():
        print(f"| {name} | {bpb:.4f} | {bpb / rows['float'] - 1:+.2%} |")


if __name__ == "__main__":
    main()
