"""Train the tiny byte-level SpikingBrain (the `spikingbrain-tiny` shape) on Python stdlib
sources and save it in the official HF layout. Spike coding is on during training through a
straight-through estimator, as the SpikingBrain report trains; evaluation runs both ways.

    .venv/bin/python examples/tiny/train.py            # about 6 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from data import training_bytes  # noqa: E402

from sbcompile.models import PRESETS, SpikeOptions, build_model  # noqa: E402
from sbcompile.models.loading import save_hf  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    data = torch.frombuffer(bytearray(training_bytes(8_000_000)), dtype=torch.uint8).long()
    model = build_model(PRESETS["spikingbrain-tiny"], SpikeOptions(enabled=True))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(0)
    t0 = time.time()
    for step in range(args.steps):
        lr = args.lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for group in opt.param_groups:
            group["lr"] = lr
        starts = torch.randint(0, len(data) - args.seq - 1, (args.batch,), generator=gen)
        batch = torch.stack([data[s:s + args.seq + 1] for s in starts])
        logits, _ = model(batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 256), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss.item() / math.log(2):.3f} bits/byte  lr {lr:.2e}  {time.time() - t0:.0f} s", flush=True)
    model.eval()
    save_hf(model, args.out)
    print(f"saved {args.out}/config.json and model.safetensors")


if __name__ == "__main__":
    main()
