"""The threshold divisor k against quality and sparsity on the tiny model (the shape of the
SpikingBrain report's Table 11): bits per byte on the held-out text, sparsity (bitwise, 3-step
window), and the share of counts with |s| <= 7, for k in {2, 2.5, 3, 3.5, 4}, plus float."""

from __future__ import annotations

import argparse
from pathlib import Path

from sbcompile.frontend import FrontendOptions, load
from sbcompile.passes import PassContext, parse_pipeline

TINY = Path(__file__).parents[1] / "examples" / "tiny"
PAPER = {2.0: (0.6735, 0.730, 0.989), 2.5: (0.6807, 0.709, 0.976), 3.0: (0.6875, 0.692, 0.951),
         3.5: (0.6898, 0.677, 0.916), 4.0: (0.6940, 0.664, 0.877)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tokens", type=int, default=8192)
    args = ap.parse_args()
    text = str(TINY / "eval.txt")
    rows = {}
    for k in (None, 2.0, 2.5, 3.0, 3.5, 4.0):
        m = load(str(TINY), FrontendOptions(spiking=k is not None, k=k or 3.0))
        ctx = PassContext()
        for p in parse_pipeline(f"cse,dce,evaluate{{text={text},tokens={args.tokens},label=row}}"):
            p.run(m, ctx)
        rows[k] = ctx.report["quality"]["row"]
    print(f"k_sweep: tiny SpikingBrain on examples/tiny/eval.txt ({args.tokens} bytes); paper: 7B, Table 11")
    print("| k | bits/byte | vs float | sparsity | share |s|<=7 | paper accuracy | paper sparsity | paper share <=7 |")
    print("|---|---|---|---|---|---|---|---|---|")
    base = rows[None]["bits_per_byte"]
    for k, r in rows.items():
        if k is None:
            print(f"| float | {base:.4f} | — | — | — | 0.6998 | — | — |")
            continue
        pa, ps, pl = PAPER[k]
        print(f"| {k} | {r['bits_per_byte']:.4f} | {r['bits_per_byte'] / base - 1:+.2%} | {r['sparsity']:.3f} | "
              f"{r['share_le_7']:.3f} | {pa} | {ps} | {pl} |")


if __name__ == "__main__":
    main()
