"""Reference interpreter vs PyTorch eager on the tiny SpikingBrain (spiking mode): tokens per
second for prefill and for token-by-token decode, measured in one run. Goal (issue 6): the
interpreter at least 0.5x PyTorch. Then long prompts on the interpreter alone (issue 17): time
and peak memory per prefill length, which grow linearly (window attention costs O(T·w))."""

from __future__ import annotations

import argparse
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

from sbcompile.frontend import load
from sbcompile.ir.interpreter import Interpreter
from sbcompile.models import SpikeOptions
from sbcompile.models.loading import load_model

TINY = Path(__file__).parents[1] / "examples" / "tiny"


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prefill", type=int, default=512)
    ap.add_argument("--decode", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--long", type=int, nargs="*", default=[5000, 20000], metavar="TOKENS",
                    help="long-prompt prefill lengths for the interpreter (none: skip)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    text = np.frombuffer((TINY / "eval.txt").read_bytes(), np.uint8).astype(np.int32)
    prompt, steps = text[: args.prefill], text[args.prefill: args.prefill + args.decode]
    model = load_model(TINY, SpikeOptions(enabled=True))
    module = load(str(TINY))

    def torch_prefill() -> None:
        with torch.no_grad():
            model(torch.from_numpy(prompt).long()[None])

    def torch_decode() -> None:
        with torch.no_grad():
            state = model.new_state()
            model(torch.from_numpy(prompt[:16]).long()[None], state)
            for t in steps:
                model(torch.tensor([[int(t)]]), state)

    def ref_prefill() -> None:
        Interpreter(module, record_activity=False)(input_ids=prompt)

    def ref_decode() -> None:
        interp = Interpreter(module, record_activity=False)
        interp(input_ids=prompt[:16])
        for t in steps:
            interp(input_ids=np.array([t], np.int32))

    rows = []
    for name, ours, theirs, n in (("prefill", ref_prefill, torch_prefill, len(prompt)),
                                  ("decode", ref_decode, torch_decode, len(steps))):
        t_ours, t_theirs = timed(ours, args.repeat), timed(theirs, args.repeat)
        rows.append((name, n, n / t_ours, n / t_theirs))
    print(f"ref_speed: tiny SpikingBrain ({TINY.name}), spiking, best of {args.repeat}, torch threads 2")
    print("| mode | tokens | ref tok/s | torch eager tok/s | ref / torch |")
    print("|---|---|---|---|---|")
    for name, n, ours, theirs in rows:
        print(f"| {name} | {n} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} |")
    if args.long:
        print_long_prompts(module, text, args.long)


def print_long_prompts(module, text: np.ndarray, lengths: list[int]) -> None:
    """Prefill of long prompts (the evaluation text repeated): seconds and peak numpy memory
    (tracemalloc), each also per 1,000 tokens, which stays flat when cost is linear."""
    print()
    print("| prefill tokens | seconds | s / 1k tokens | peak MB | MB / 1k tokens |")
    print("|---|---|---|---|---|")
    for n in lengths:
        prompt = np.resize(text, n)
        tracemalloc.start()
        t0 = time.perf_counter()
        Interpreter(module, record_activity=False)(input_ids=prompt)
        took = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        print(f"| {n} | {took:.2f} | {1000 * took / n:.3f} | {peak:.0f} | {1000 * peak / n:.2f} |")


if __name__ == "__main__":
    main()
