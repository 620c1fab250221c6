"""Parse and print speed of the `.sbir` text format on a generated module of 10,000 ops.
Goals (issue 2): parse < 1.0 s, print < 0.3 s on the 2-core CI machine."""

from __future__ import annotations

import argparse
import time

from sbcompile.ir import Builder, Module, parse, print_module, tensor
from sbcompile.ir.dialects.nn import Add, RMSNorm, SiLU
from sbcompile.ir.dialects.spike import Encode
from sbcompile.ir.dialects.syn import Dense


def generated_module(n_ops: int) -> Module:
    """A SpikingBrain-like chain: norm, encode, projections, activations, residual adds."""
    m = Module("bench", {"ops": n_ops})
    b = Builder(m)
    x = b.input("x", tensor(["seq", 64]))
    i = 0
    while len(m.ops) < n_ops:
        h = b.op(RMSNorm, [x], weight=f"layers.{i}.norm.weight", eps=1e-6)
        s = b.op(Encode, [h], k=3.0)
        y = b.op(Dense, [s], weight=f"layers.{i}.proj.weight", bias=f"layers.{i}.proj.bias", out_features=64)
        a = b.op(SiLU, [y])
        x = b.op(Add, [x, a], result=f"layers_{i}_out")
        i += 1
    b.output(x)
    return m


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ops", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    m = generated_module(args.ops)
    text = print_module(m)
    t_print = best_of(lambda: print_module(m), args.repeat)
    t_parse = best_of(lambda: parse(text, "bench.sbir"), args.repeat)
    assert parse(text) == m and print_module(parse(text)) == text
    print(f"ir_text: {len(m.ops)} ops, {len(text) / 1e6:.2f} MB of text (best of {args.repeat})")
    print(f"| step  | seconds | goal  | ratio to goal |")
    print(f"|-------|---------|-------|---------------|")
    print(f"| parse | {t_parse:7.3f} | 1.000 | {t_parse / 1.0:13.2f} |")
    print(f"| print | {t_print:7.3f} | 0.300 | {t_print / 0.3:13.2f} |")


if __name__ == "__main__":
    main()
