"""Lava's fixed-point simulator vs the reference interpreter on the tiny SpikingBrain compiled for
loihi2: seconds per token, streamed (one token per Lava time step, many in flight) and decoded
(one token per call, each waiting out the pipeline), measured in one run on the same artifact.
Lava runs every process as an OS process exchanging messages each step, so the ratio is its
price as a functional reference; the logits are checked equal on the way."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sbcompile.cli import main as sbcompile
from sbcompile.frontend import load_sbir
from sbcompile.targets import TARGETS
from sbcompile.targets.ref import RefSession

TINY = Path(__file__).parents[1] / "examples" / "tiny"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tokens", type=int, default=64, help="prompt tokens streamed in one call")
    ap.add_argument("--decode", type=int, default=8, help="then tokens decoded one per call")
    args = ap.parse_args()
    text = np.frombuffer((TINY / "eval.txt").read_bytes(), np.uint8).astype(np.int32)
    prompt, steps = text[: args.tokens], text[args.tokens: args.tokens + args.decode]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "tiny"
        if sbcompile([str(TINY), "-t", "loihi2", "-o", str(out)]) != 0:
            sys.exit(1)
        module = load_sbir(out / "module.sbir")
        t0 = time.perf_counter()
        lava = TARGETS["loihi2"]().open(out, module)
        t_build = time.perf_counter() - t0
        ref = RefSession(load_sbir(out / "module.sbir"))
        try:
            rows, outs = [], {}
            for name, run in (("lava", lava), ("ref", ref)):
                t0 = time.perf_counter()
                if name == "lava":
                    got = [run(prompt)]
                else:  # the reference streams token by token, as Lava's graph does
                    got = [run(prompt[i:i + 1]) for i in range(len(prompt))]
                t_stream = time.perf_counter() - t0
                t0 = time.perf_counter()
                got += [run(np.array([t], np.int32)) for t in steps]
                t_decode = time.perf_counter() - t0
                outs[name] = np.concatenate(got)
                rows.append((name, t_stream / len(prompt), t_decode / len(steps)))
            graph = lava.graph
        finally:
            lava.close()
    exact = np.array_equal(outs["lava"], outs["ref"])
    (_, lava_s, lava_d), (_, ref_s, ref_d) = rows
    print(f"lava_speed: tiny SpikingBrain on Loihi2SimCfg(fixed_pt): {len(graph.processes)} Lava processes, "
          f"{graph.output_latency} steps from input to logits; graph built and started in {t_build:.2f} s; "
          f"logits equal the reference: {exact}")
    print("| mode | tokens | lava ms/token | ref ms/token | lava / ref |")
    print("|---|---|---|---|---|")
    print(f"| streamed prompt | {len(prompt)} | {lava_s * 1e3:.1f} | {ref_s * 1e3:.2f} | {lava_s / ref_s:.1f} |")
    print(f"| decode, one token per call | {len(steps)} | {lava_d * 1e3:.1f} | {ref_d * 1e3:.2f} | {lava_d / ref_d:.1f} |")
    if not exact:
        sys.exit(1)


if __name__ == "__main__":
    main()
