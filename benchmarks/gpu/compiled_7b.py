"""Issue 21: the compiled artifact's speed. Compiles `random:spikingbrain-7b` with the cuda target's
default pipeline (`sbcompile random:spikingbrain-7b -t cuda -o OUT`, weights drawn on the GPU from the
seed), opens it as `sbcompile run` does, and times its plan (executor.py): prefill / time to first
token at each length and greedy decode after the longest prefill, eager and as a CUDA graph; against
the Qwen2.5-7B-shaped bf16 transformer of layers7b.py measured in the same run. Every figure comes
with joules per token from the GPU's NVML energy counter (energy.py).

    python3 benchmarks/gpu/compiled_7b.py [--tokens 32768 131072] [--steps 128] [--presets SPEC ...]

The default presets: the release's form (`random:spikingbrain-7b`: down_proj float, the SWA query
spike-coded per head, K/V rounded to int8) and the paper's (`random:spikingbrain-7b:0:paper`: every
projection spiked, the form the hand-written layer runner of layers7b.py computes).

TTFT = token ids on the GPU to the first token (prefill, last-position logits, argmax); median of
--reps runs after a warm-up run (autotuning). Decode: `--steps` greedy steps from the states the last
prefill left (ours) and from a random static KV cache of the same length (theirs)."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import triton

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import decode_7b  # noqa: E402
import prefill_7b  # noqa: E402
from energy import EnergyMeter, per_token  # noqa: E402
from layers7b import Shape, TheirDecoder, build_theirs, causal_sdpa, decode_sdpa, random_cache, their_prefill  # noqa: E402

from sbcompile.cli import main as sbcompile_main  # noqa: E402
from sbcompile.run import load_artifact  # noqa: E402
from sbcompile.targets import TARGETS  # noqa: E402


def timed(fn, reps: int, meter: EnergyMeter) -> tuple[float, float | None]:
    """(median seconds of fn(), joules per call over the timed calls), after one warm-up call."""
    fn()
    secs = []
    with meter.region() as r:
        for _ in range(reps):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            secs.append(time.perf_counter() - t0)
    return statistics.median(secs), None if r.joules is None else r.joules / reps


def decode_rate(step, steps: int, meter: EnergyMeter) -> tuple[float, float | None]:
    """(tokens/s, joules per token) over `steps` calls after three warm-up calls."""
    for _ in range(3):
        step()
    with meter.region() as r:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
        took = time.perf_counter() - t0
    return steps / took, None if r.joules is None else r.joules / steps


def min_bytes(ex) -> int:
    """What one of ours' decode steps must move: every weight once (embedding: one row), GLA states read
    and written, window rings read."""
    from sbcompile.ir.dialects.nn import Embed, RMSNorm
    from sbcompile.ir.dialects.syn import Dense
    total = 0
    for op in ex.module.ops:
        p = op.params
        if op.isa(Dense):
            n, k = p.out_features, op.operands[0].type.shape[-1]
            total += n * k * (1 if p.scale is not None else 2) + 4 * n * (int(p.scale is not None) + int(p.bias is not None))
        elif op.isa(RMSNorm) and p.weight is not None:
            total += 4 * ex.module.weights.shape(p.weight)[0]
        elif op.isa(Embed):
            total += 2 * p.dim
    for st in ex.states.values():
        for name, t in st.items():
            total += t.numel() * t.element_size() * (2 if name == "S" else 1)
    return total


def measure_ours(preset: str, out: Path, tokens: list[int], args, meter: EnergyMeter) -> dict:
    """Compile `preset` as the command line does, open it as `sbcompile run` does, time it."""
    t0 = time.perf_counter()
    sbcompile_main([preset, "-t", "cuda", "-o", str(out)])
    module, target = load_artifact(out)
    ex = TARGETS[target]().open(out, module)
    ex.record_activity = False  # no host copies of spike counts in timed runs
    print(f"{preset}: compiled and opened in {time.perf_counter() - t0:.1f} s: {ex.summary}", flush=True)
    gen = torch.Generator("cuda").manual_seed(1)
    res: dict = {"prefill": {}}
    for t in tokens:
        ids = torch.randint(0, module.attrs["vocab"], (t,), device="cuda", generator=gen)

        def run() -> None:
            ex.reset()
            ex.prefill(ids, last_only=True).argmax(-1)
        res["prefill"][t] = timed(run, args.reps, meter)
        print(f"  T={t}: {res['prefill'][t][0]:.3f} s, {per_token(res['prefill'][t][1], t)} J/tok", flush=True)
    tok = torch.zeros(1, dtype=torch.long, device="cuda")

    def step() -> None:
        tok.copy_(ex.decode(tok).argmax(-1))
    ex.graphs = False
    res["eager"] = decode_rate(step, max(16, args.steps // 4), meter)
    ex.graphs = True
    res["graph"] = decode_rate(step, args.steps, meter)
    res["bytes"] = min_bytes(ex)
    print(f"  decode at {max(tokens)}: eager {res['eager'][0]:.1f} tok/s, graph {res['graph'][0]:.1f} tok/s, "
          f"min bytes/token {res['bytes'] / 1e9:.2f} GB", flush=True)
    del ex
    torch.cuda.empty_cache()
    return res


def measure_theirs(tokens: list[int], args, meter: EnergyMeter) -> dict:
    shape = Shape()
    theirs = build_theirs(shape, "cuda")
    gen = torch.Generator("cuda").manual_seed(1)
    res: dict = {"prefill": {}}
    for t in tokens:
        ids = torch.randint(0, shape.vocab, (t,), device="cuda", generator=gen)
        best, _ = prefill_7b.pick_attention(t, shape)
        attn = causal_sdpa(*prefill_7b.CANDIDATES[best])
        res["prefill"][t] = timed(lambda: their_prefill(theirs, ids, attn)[0].argmax(-1), args.reps, meter)
        print(f"  theirs T={t} ({best}): {res['prefill'][t][0]:.3f} s", flush=True)
    context = max(tokens)
    setting, best, _ = decode_7b.pick_attention(context, shape)
    d = TheirDecoder(theirs, random_cache(theirs, context), context, context, decode_sdpa(*setting))
    res["eager"] = decode_rate(d.step, max(16, args.steps // 4), meter)
    res["graph"] = decode_rate(decode_7b.graphed(d.step), args.steps, meter)
    res["bytes"] = decode_7b.bytes_per_token(d)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, nargs="+", default=[32768, 131072])
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--presets", nargs="+", default=["random:spikingbrain-7b", "random:spikingbrain-7b:0:paper"])
    ap.add_argument("--no-theirs", action="store_true")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}  triton {triton.__version__}", flush=True)
    meter = EnergyMeter()
    tokens = sorted(args.tokens)
    tmp = Path(tempfile.mkdtemp())
    runs = {p: measure_ours(p, tmp / f"art{i}", tokens, args, meter) for i, p in enumerate(args.presets)}
    theirs = None if args.no_theirs else measure_theirs(tokens, args, meter)
    print("\n| model | tokens | TTFT s | prefill tok/s | prefill J/token | TTFT ratio theirs / ours |")
    print("|---|---|---|---|---|---|")
    for name, r in [*runs.items(), *([("theirs (Qwen2.5-7B shape, bf16)", theirs)] if theirs else [])]:
        for t in tokens:
            s, j = r["prefill"][t]
            ratio = f"{theirs['prefill'][t][0] / s:.2f}x" if theirs else "-"
            print(f"| {name} | {t} | {s:.3f} | {t / s:,.0f} | {per_token(j, t)} | {ratio} |")
    print(f"\n| decode at {max(tokens)} | eager tok/s | eager J/token | graph tok/s | graph J/token | graph ms/token "
          f"| min GB/token | GB/s at graph rate | graph ratio / eager ratio vs theirs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in [*runs.items(), *([("theirs (Qwen2.5-7B shape, bf16)", theirs)] if theirs else [])]:
        (e, je), (g, jg) = r["eager"], r["graph"]
        ratio = f"{g / theirs['graph'][0]:.2f}x / {e / theirs['eager'][0]:.2f}x" if theirs else "-"
        print(f"| {name} | {e:.1f} | {per_token(je, 1)} | {g:.1f} | {per_token(jg, 1)} | {1e3 / g:.2f} "
              f"| {r['bytes'] / 1e9:.2f} | {r['bytes'] * g / 1e9:.0f} | {ratio} |")


if __name__ == "__main__":
    main()
