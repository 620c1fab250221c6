"""Issue 21: the compiled artifact's speed. Compiles `random:spikingbrain-7b` with the cuda target's
default pipeline (`sbcompile random:spikingbrain-7b -t cuda -o OUT`, weights drawn on the GPU from the
seed), opens it as `sbcompile run` does, and times its plan (executor.py): prefill / time to first
token at each length and greedy decode after the longest prefill, eager and as a CUDA graph; against
the Qwen2.5-7B-shaped bf16 transformer of layers7b.py measured in the same run. Every figure comes
with joules per token from the GPU's NVML energy counter (energy.py).

    python3 benchmarks/gpu/compiled_7b.py [--tokens 32768 131072] [--steps 128] [--out OUT]

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, nargs="+", default=[32768, 131072])
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--preset", default="random:spikingbrain-7b")
    ap.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp()) / "sb7b")
    ap.add_argument("--no-theirs", action="store_true")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}  triton {triton.__version__}", flush=True)
    meter = EnergyMeter()
    t0 = time.perf_counter()
    sbcompile_main([args.preset, "-t", "cuda", "-o", str(args.out)])
    module, target = load_artifact(args.out)
    ex = TARGETS[target]().open(args.out, module)
    print(f"compiled in {time.perf_counter() - t0:.1f} s: {ex.summary}", flush=True)
    shape = Shape()
    theirs = None if args.no_theirs else build_theirs(shape, "cuda")
    gen = torch.Generator("cuda").manual_seed(1)
    rows = []
    for t in sorted(args.tokens):
        ids = torch.randint(0, shape.vocab, (t,), device="cuda", generator=gen)

        def ours() -> None:
            ex.reset()
            ex.prefill(ids, last_only=True).argmax(-1)
        to, jo = timed(ours, args.reps, meter)
        tt = jt = None
        if theirs is not None:
            best, _ = prefill_7b.pick_attention(t, shape)
            attn = causal_sdpa(*prefill_7b.CANDIDATES[best])
            tt, jt = timed(lambda: their_prefill(theirs, ids, attn)[0].argmax(-1), args.reps, meter)
        rows.append((t, to, jo, tt, jt))
        print(f"  T={t}: ours {to:.3f} s {per_token(jo, t)} J/tok" +
              (f"; theirs {tt:.3f} s {per_token(jt, t)} J/tok" if tt else ""), flush=True)
    print("\n| tokens | ours TTFT s | ours tok/s | ours J/token | theirs TTFT s | theirs tok/s | theirs J/token | TTFT ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for t, to, jo, tt, jt in rows:
        th = f"{tt:.3f} | {t / tt:,.0f} | {per_token(jt, t)} | {tt / to:.2f}x" if tt else "- | - | - | -"
        print(f"| {t} | {to:.3f} | {t / to:,.0f} | {per_token(jo, t)} | {th} |")

    context = max(args.tokens)
    tok = torch.zeros(1, dtype=torch.long, device="cuda")

    def step() -> None:
        tok.copy_(ex.decode(tok).argmax(-1))
    ex.graphs = False
    oe, je = decode_rate(step, max(16, args.steps // 4), meter)
    ex.graphs = True
    og, jg = decode_rate(step, args.steps, meter)
    print(f"ours decode at {context}: eager {oe:.1f} tok/s {per_token(je, 1)} J/tok; graph {og:.1f} tok/s "
          f"{per_token(jg, 1)} J/tok; min bytes/token {min_bytes(ex) / 1e9:.2f} GB", flush=True)
    del ex
    torch.cuda.empty_cache()
    if theirs is None:
        return
    setting, best, _ = decode_7b.pick_attention(context, shape)
    d = TheirDecoder(theirs, random_cache(theirs, context), context, context, decode_sdpa(*setting))
    te, tje = decode_rate(d.step, max(16, args.steps // 4), meter)
    tg, tjg = decode_rate(decode_7b.graphed(d.step), args.steps, meter)
    print(f"theirs decode at {context} ({best}): eager {te:.1f} tok/s {per_token(tje, 1)} J/tok; graph {tg:.1f} tok/s "
          f"{per_token(tjg, 1)} J/tok; min bytes/token {decode_7b.bytes_per_token(d) / 1e9:.2f} GB")
    print(f"\n| decode at {context} | eager tok/s | eager J/token | graph tok/s | graph J/token |")
    print("|---|---|---|---|---|")
    print(f"| ours (compiled artifact) | {oe:.1f} | {per_token(je, 1)} | {og:.1f} | {per_token(jg, 1)} |")
    print(f"| theirs (bf16) | {te:.1f} | {per_token(tje, 1)} | {tg:.1f} | {per_token(tjg, 1)} |")
    print(f"| ratio | {oe / te:.2f}x | | {og / tg:.2f}x | |")


if __name__ == "__main__":
    main()
