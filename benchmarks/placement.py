"""Hop-weighted spike traffic after `place` vs a naive in-order placement, with the time taken,
on the tiny example (calibrated firing rates) and the 7B preset on Hala Point (default rate)."""

from __future__ import annotations

import time
from pathlib import Path

from sbcompile.frontend import load
from sbcompile.passes import PassContext, parse_pipeline
from sbcompile.targets.loihi2.machine import load_system

TINY = Path(__file__).parents[1] / "examples" / "tiny"


def run(source: str, system: str, pipeline: str) -> tuple[dict, float]:
    module = load(source)
    ctx = PassContext(target="loihi2", machine=load_system(system))
    t0 = time.perf_counter()
    for p in parse_pipeline(pipeline):
        p.run(module, ctx)
    return ctx.report, time.perf_counter() - t0


def main() -> None:
    calib = TINY / "calib.txt"
    cases = [("tiny (calibrated)", str(TINY), "loihi2-chip", f"cse,dce,calibrate{{text={calib}}},partition,place"),
             ("spikingbrain-7b", "spikingbrain-7b", "hala-point", "cse,dce,partition,place")]
    print("placement: hop-weighted traffic (messages x mesh hops per token), ours vs naive in-order")
    print("| model | system | cores | messages/token | naive hop traffic | ours | ours / naive | avg hops naive -> ours | cross-chip msgs ours | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, source, system, pipeline in cases:
        r, seconds = run(source, system, pipeline)
        p = r["place"]
        print(f"| {name} | {system} | {r['cores_used']:,} | {p['ours']['messages_per_token']:,.0f} | "
              f"{p['naive']['hop_traffic']:,.0f} | {p['ours']['hop_traffic']:,.0f} | {p['ratio']:.3f} | "
              f"{p['naive']['avg_hops']:.2f} -> {p['ours']['avg_hops']:.2f} | "
              f"{p['ours']['cross_chip_messages_per_token']:,.0f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
