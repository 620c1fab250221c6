"""Grounding: the 370M MatMul-free LM (Abreu et al. 2025, arXiv 2503.18002) built in the IR,
compiled with the same Loihi 2 machine and cost model as everything else, its predicted
throughput and energy per token printed beside what the public record gives."""

from __future__ import annotations

import time

from sbcompile.ir import verify
from sbcompile.passes import PassContext, parse_pipeline
from sbcompile.targets.loihi2.grounding import PUBLISHED, all_on_neurocores, matmulfree_370m

PIPELINE = "partition,place,schedule,energy"


def main() -> None:
    module = matmulfree_370m()
    verify(module)
    ctx = PassContext(target="loihi2", machine=all_on_neurocores(64, (8, 8)))
    t0 = time.perf_counter()
    for p in parse_pipeline(PIPELINE):
        p.run(module, ctx)
    seconds = time.perf_counter() - t0
    r = ctx.report
    s, e = r["schedule"], r["energy"]["loihi2"]

    def rng(v: dict, f: str = ".3g") -> str:
        return f"{v['low']:{f}} / {v['central']:{f}} / {v['high']:{f}}"

    print(f"grounding: matmulfree-370m on Loihi 2, every op on neurocores but the embedding ({PIPELINE}, {seconds:.1f} s)")
    print(f"{r['cores_used']:,} cores on {r['chips_used']} chips, {s['steps_per_token']} time steps per token, "
          f"{r['placement']['cross_chip_share']:.1%} of messages cross chips")
    print("| figure | predicted (low / central / high) | published |")
    print("|---|---|---|")
    print(f"| decode tokens/s | {rng(s['decode_tokens_per_s'])} | not readable here (abstract: up to 3x a Jetson Orin Nano) |")
    print(f"| decode ms/token | {rng(s['decode_ms_per_token'])} | - |")
    print(f"| prefill tokens/s | {rng(s['prefill_tokens_per_s'], ',.0f')} | - |")
    print(f"| decode J/token | {rng(e['decode']['total_j_per_token'])} | {PUBLISHED['energy_j_per_token']} (mode not stated in the summary) |")
    print(f"| prefill J/token | {rng(e['prefill']['total_j_per_token'])} | - |")
    ratio = PUBLISHED["energy_j_per_token"] / e["decode"]["total_j_per_token"]["central"]
    inside = e["decode"]["total_j_per_token"]["low"] <= PUBLISHED["energy_j_per_token"] <= e["decode"]["total_j_per_token"]["high"]
    print(f"published / predicted decode J/token (central): {ratio:.2f}x; published inside the predicted range: {inside}")


if __name__ == "__main__":
    main()
