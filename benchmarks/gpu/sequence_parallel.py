"""Issue 24: time to first token of a compiled artifact's prefill split over ranks (one per GPU,
NCCL; gloo processes on CPU with TRITON_INTERPRET=1 for a smoke run). Every rank loads the artifact
(compile it first: `sbcompile random:spikingbrain-7b -t cuda -o OUT`), draws the same seeded prompt
and runs its token range through targets/cuda/sequence_parallel.py, last-token logits only.

    torchrun --nproc-per-node N benchmarks/gpu/sequence_parallel.py OUT --tokens 1048576 [--reps 2]

TTFT = from a barrier with the token ids on every device to the last rank's first token (prefill and
argmax), the slowest rank's clock after a closing barrier; median of --reps runs after one warm-up run
at the same length (the kernels autotune per length). The last rank prints one JSON line: ranks,
backend, tokens, TTFT per run, bytes each rank sent per prefill, peak device memory per rank."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sbcompile.api import load  # noqa: E402
from sbcompile.ir.dialects.nn import Embed  # noqa: E402
from sbcompile.targets.cuda.sequence_parallel import SequenceParallelExecutor, init_ranks  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifact", type=Path)
    ap.add_argument("--tokens", type=int, default=1 << 20)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    _, device = init_ranks()
    module = load(args.artifact).module
    ex = SequenceParallelExecutor(module, device=str(device), all_logits=False, record_activity=False)
    vocab = next(op for op in module.ops if op.isa(Embed)).params.vocab
    ids = torch.randint(0, vocab, (args.tokens,), generator=torch.Generator().manual_seed(args.seed)).to(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        dist.barrier()

    times = []
    for rep in range(args.reps + 1):
        sync()
        t0 = time.perf_counter()
        with torch.no_grad():
            out = ex.prefill_spread(ids)
            first = int(out[-1].argmax())
        sync()
        if rep:  # the first run autotunes
            times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
    peaks = [None] * ex.world
    dist.all_gather_object(peaks, peak)
    if ex.last:
        traffic = ex.traffic()
        print(json.dumps({"ranks": ex.world, "backend": ex.backend, "tokens": args.tokens,
                          "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                          "ttft_s": times, "ttft_median_s": statistics.median(times), "first_token": first,
                          "sent_per_rank_bytes": traffic["layers_total"], "per_layer_bytes": traffic["per_layer"],
                          "peak_memory_bytes": peaks}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
