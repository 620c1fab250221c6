"""Chip-aware placement: messages per token, the share crossing chips, and hops, ours against
the baseline (packed in dataflow order, one instance per processor op), with the time taken, on
the tiny example (calibrated firing rates) and the 7B preset on Hala Point (default rate)."""

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
    print("placement: messages per token and the share crossing chips, ours vs packed in order with one instance per processor op")
    print("| model | system | cores | chips | messages/token | cross-chip share baseline -> ours | avg hops baseline -> ours | chip cut before -> after KL | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, source, system, pipeline in cases:
        r, seconds = run(source, system, pipeline)
        p, b = r["place"]["ours"], r["place"]["baseline_no_relays"]
        print(f"| {name} | {system} | {r['cores_used']:,} | {r['chips_used']} | {p['messages_per_token']:,.0f} | "
              f"{b['cross_chip_share']:.1%} -> {p['cross_chip_share']:.1%} | {b['avg_hops']:.2f} -> {p['avg_hops']:.2f} | "
              f"{r['place']['chip_cut_before']:,.0f} -> {r['place']['chip_cut_after']:,.0f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
