"""Issue 11, benchmark 3: prefill throughput and time to first token (TTFT) of the SpikingBrain-7B shape
built from our Triton kernels vs a Qwen2.5-7B-shaped bf16 transformer (cuBLAS + SDPA), batch 1, one GPU,
all 28 layers, random weights (layers7b.py says what each side runs).

    python3 benchmarks/gpu/prefill_7b.py [--tokens 32768 131072 262144] [--ours-only 1048576 2097152]

Why: SpikingBrain's claim is that linear (GLA) and windowed (SWA) attention make long prefills cheap,
while a full-attention transformer's cost grows with length squared. TTFT = wall time from token ids on
the GPU to the first generated token (prefill, final norm, lm_head on the last position, argmax), after
one warm-up run at that length (autotuning); median of --reps runs (one run above 128k tokens).
Lengths in --ours-only run ours alone; theirs there is extrapolated from a fit t = a*T + b*T^2 to its
measured points, and marked so. First a correctness check (layers7b.check) on a small shape."""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import triton
from torch.nn.attention import SDPBackend
from triton.testing import do_bench

from layers7b import Shape, build_ours, build_theirs, causal_sdpa, check, ours_prefill, their_prefill

CANDIDATES = {"cudnn, K/V repeated": (SDPBackend.CUDNN_ATTENTION, True),
              "cudnn, enable_gqa": (SDPBackend.CUDNN_ATTENTION, False),
              "flash, enable_gqa": (SDPBackend.FLASH_ATTENTION, False),
              "flash, K/V repeated": (SDPBackend.FLASH_ATTENTION, True)}


def pick_attention(t: int, shape: Shape) -> tuple[str, dict[str, float]]:
    """The fastest causal SDPA setting for theirs at t tokens (one layer's q, k, v)."""
    gen = torch.Generator("cuda").manual_seed(0)
    q = torch.randn(1, shape.heads, t, shape.head_dim, device="cuda", generator=gen, dtype=torch.bfloat16)
    k, v = (torch.randn(1, shape.kv_heads, t, shape.head_dim, device="cuda", generator=gen, dtype=torch.bfloat16)
            for _ in range(2))
    ref = causal_sdpa(SDPBackend.FLASH_ATTENTION, True)(q, k, v).float()
    times = {}
    for name, (backend, expand) in CANDIDATES.items():
        fn = causal_sdpa(backend, expand)
        try:
            err = float((fn(q, k, v).float() - ref).norm() / ref.norm())
        except RuntimeError as e:
            print(f"  {name}: unavailable ({str(e).splitlines()[0][:80]})")
            continue
        if err < 1e-2:
            times[name] = do_bench(lambda: fn(q, k, v), rep=200, return_mode="median")
    return min(times, key=times.get), times


def ttft(fn, reps: int) -> float:
    """Median wall seconds of fn() (synchronised), after one warm-up call."""
    fn()
    out = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def peak(fn) -> tuple[float, float]:
    """(fn's result, peak GiB allocated beyond what was allocated before: activations and state, no weights)."""
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    t = fn()
    return t, (torch.cuda.max_memory_allocated() - base) / 2 ** 30


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares a, b of t = a*T + b*T^2."""
    A = torch.tensor([[t, t * t] for t, _ in points], dtype=torch.float64)
    y = torch.tensor([s for _, s in points], dtype=torch.float64)
    a, b = torch.linalg.lstsq(A, y[:, None]).solution[:, 0].tolist()
    return a, b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, nargs="+", default=[32768, 131072, 262144], help="both models")
    ap.add_argument("--ours-only", type=int, nargs="*", default=[1048576, 2097152], help="ours alone")
    ap.add_argument("--chunk", type=int, default=32768, help="token chunk of the position-wise work")
    ap.add_argument("--reps", type=int, default=3, help="timed runs per length up to 128k tokens")
    ap.add_argument("--no-check", action="store_true", help="skip the small-shape correctness check")
    ap.add_argument("--layers", type=int, default=28, help="fewer for a smoke run")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}  triton {triton.__version__}", flush=True)
    if not args.no_check:
        print("check, rel. diff of logits vs sbcompile.models in float32:", check("cuda", torch.bfloat16), flush=True)
    shape = Shape(layers=args.layers)
    best, times = pick_attention(min(args.tokens), shape)
    print(f"their causal attention at {min(args.tokens)} tokens (ms per layer): "
          + ", ".join(f"{k} {v:.2f}" for k, v in times.items()) + f" -> {best}", flush=True)
    attn = causal_sdpa(*CANDIDATES[best])
    ours, theirs = build_ours(shape, "cuda"), build_theirs(shape, "cuda")
    print(f"weights: {torch.cuda.memory_allocated() / 2 ** 30:.1f} GiB for both models", flush=True)
    gen = torch.Generator("cuda").manual_seed(1)
    rows: list[tuple[int, float | None, float, float | None, float, bool]] = []
    for t in sorted(args.tokens) + sorted(args.ours_only):
        if t > max(args.tokens):
            theirs = None  # ours alone from here: its memory back
        ids = torch.randint(0, shape.vocab, (t,), device="cuda", generator=gen)
        reps = args.reps if t <= 131072 else 1
        try:
            to, mo = peak(lambda: ttft(lambda: ours_prefill(ours, ids, args.chunk)[0].argmax(-1), reps))
        except torch.cuda.OutOfMemoryError:
            print(f"  T={t}: ours does not fit ({torch.cuda.max_memory_allocated() / 2 ** 30:.1f} GiB reached)")
            break
        tt = mt = None
        if t in args.tokens:
            tt, mt = peak(lambda: ttft(lambda: their_prefill(theirs, ids, attn, args.chunk)[0].argmax(-1), reps))
        rows.append((t, tt, to, mt, mo, t in args.tokens))
        print(f"  T={t}: ours {to:.3f} s ({mo:.1f} GiB peak)" + (f", theirs {tt:.3f} s ({mt:.1f} GiB)" if tt else ""),
              flush=True)
    a, b = fit([(t, tt) for t, tt, *_ in rows if tt is not None])
    print(f"\nfit of theirs: t = {a * 1e6:.3f} us * T + {b * 1e12:.3f} ps * T^2")
    print("\n| tokens | theirs TTFT s | ours TTFT s | ratio (theirs / ours) | ours tok/s | theirs tok/s "
          "| activation peak GiB theirs / ours |")
    print("|---|---|---|---|---|---|---|")
    for t, tt, to, mt, mo, measured in rows:
        est = tt if measured else a * t + b * t * t
        mark = "" if measured else " (extrapolated)"
        mem = f"{mt:.1f} / {mo:.1f}" if measured else f"- / {mo:.1f}"
        print(f"| {t} | {est:.3f}{mark} | {to:.3f} | {est / to:.2f}x{mark} | {t / to:,.0f} | {t / est:,.0f}{mark} "
              f"| {mem} |")


if __name__ == "__main__":
    main()
