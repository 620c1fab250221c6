"""Where the compiled 7B artifact's time goes: per-kernel CUDA time of one eager decode step and of a
prefill, from torch.profiler, plus the decode GEMV shapes' bandwidth alone. A diagnostic beside
compiled_7b.py (which gives the figures); it prints tables, nothing is recorded.

    python3 benchmarks/gpu/profile_7b.py [--preset random:spikingbrain-7b:0:paper] [--prefill 8192]"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from sbcompile.cli import main as sbcompile_main  # noqa: E402
from sbcompile.run import load_artifact  # noqa: E402
from sbcompile.targets import TARGETS  # noqa: E402
from targets.cuda.kernels.spike_gemm import spike_gemm  # noqa: E402


def kernel_table(prof, steps: int, top: int) -> None:
    rows = [(e.key, e.device_time_total / steps, e.count // steps) for e in prof.key_averages()
            if e.device_time_total > 0]
    rows.sort(key=lambda r: -r[1])
    total = sum(r[1] for r in rows)
    launches = sum(r[2] for r in rows)
    print(f"  GPU time per step {total / 1e3:.3f} ms in {launches} kernel launches")
    for key, us, n in rows[:top]:
        print(f"  {us / 1e3:8.3f} ms {100 * us / total:5.1f}%  x{n:<5d} {key[:110]}")


def gemv_bandwidth() -> None:
    print("\nspike GEMM at M=1 (int8 codes): time and GB/s; bf16 F.linear at M=1 for scale")
    for n, k in [(4608, 3584), (37888, 3584), (3584, 18944), (3584, 3584)]:
        s = torch.randint(-3, 4, (1, k), dtype=torch.int8, device="cuda")
        w = torch.randint(-127, 128, (n, k), dtype=torch.int8, device="cuda")
        scale = torch.rand(n, device="cuda")
        vth = torch.rand(1, 1, device="cuda")
        wb = torch.randn(n, k, dtype=torch.bfloat16, device="cuda")
        xb = torch.randn(1, k, dtype=torch.bfloat16, device="cuda")
        for name, fn, nbytes in [("spike", lambda: spike_gemm(s, w, scale, vth, out_dtype=torch.bfloat16), n * k),
                                 ("bf16 ", lambda: torch.nn.functional.linear(xb, wb), 2 * n * k)]:
            for _ in range(5):
                fn()
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(50):
                fn()
            torch.cuda.synchronize()
            dt = (time.perf_counter() - t0) / 50
            print(f"  {name} N={n:6d} K={k:6d}: {dt * 1e6:7.1f} us  {nbytes / dt / 1e9:6.0f} GB/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="random:spikingbrain-7b:0:paper")
    ap.add_argument("--prefill", type=int, default=8192)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    out = Path(tempfile.mkdtemp()) / "art"
    sbcompile_main([args.preset, "-t", "cuda", "-o", str(out)])
    module, target = load_artifact(out)
    ex = TARGETS[target]().open(out, module)
    ex.record_activity = False
    ids = torch.randint(0, module.attrs["vocab"], (args.prefill,), device="cuda")
    ex.prefill(ids, last_only=True)
    ex.reset()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        ex.prefill(ids, last_only=True)
        torch.cuda.synchronize()
    print(f"\n{args.preset}: prefill of {args.prefill} tokens")
    kernel_table(prof, 1, args.top)
    tok = torch.zeros(1, dtype=torch.long, device="cuda")
    ex.graphs = False
    for _ in range(3):
        tok.copy_(ex.decode(tok).argmax(-1))
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(4):
            tok.copy_(ex.decode(tok).argmax(-1))
        torch.cuda.synchronize()
    print("\neager decode step (per step, mean of 4)")
    kernel_table(prof, 4, args.top)
    host = cProfile.Profile()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    host.enable()
    for _ in range(4):
        tok.copy_(ex.decode(tok).argmax(-1))
    torch.cuda.synchronize()
    host.disable()
    print(f"\neager decode: {(time.perf_counter() - t0) / 4 * 1e3:.1f} ms/token under cProfile; host time by function:")
    pstats.Stats(host).sort_stats("tottime").print_stats(args.top)
    ex.graphs = True
    for _ in range(3):
        tok.copy_(ex.decode(tok).argmax(-1))
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(64):
        tok.copy_(ex.decode(tok).argmax(-1))
    torch.cuda.synchronize()
    print(f"\ngraph decode: {(time.perf_counter() - t0) / 64 * 1e3:.3f} ms/token")
    gemv_bandwidth()


if __name__ == "__main__":
    main()
