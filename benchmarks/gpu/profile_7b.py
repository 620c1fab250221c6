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
import triton
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from sbcompile.cli import main as sbcompile_main  # noqa: E402
from sbcompile.run import load_artifact  # noqa: E402
from sbcompile.targets import TARGETS  # noqa: E402


def kernel_table(prof, steps: int, top: int) -> None:
    rows = [(e.key, e.device_time_total / steps, e.count // steps) for e in prof.key_averages()
            if e.device_time_total > 0]
    rows.sort(key=lambda r: -r[1])
    total = sum(r[1] for r in rows)
    launches = sum(r[2] for r in rows)
    print(f"  GPU time per step {total / 1e3:.3f} ms in {launches} kernel launches")
    for key, us, n in rows[:top]:
        print(f"  {us / 1e3:8.3f} ms {100 * us / total:5.1f}%  x{n:<5d} {key[:110]}")


# candidates timed beside the shipped configs: (warps, stages, BLOCK_N, BLOCK_K, DOT, PROGRAMS)
EXTRA_GEMV = [(4, 4, 128, 128, 1, 1024), (8, 4, 128, 256, 1, 1024), (4, 8, 32, 256, 1, 1024), (4, 4, 32, 256, 1, 528),
              (4, 4, 64, 256, 1, 528), (8, 3, 64, 512, 1, 1024), (4, 4, 16, 512, 1, 1024), (2, 6, 32, 256, 1, 1024),
              (4, 6, 64, 128, 1, 2048), (8, 6, 128, 128, 1, 2048)]


def gemv_bandwidth(shapes: list[tuple[int, int]]) -> None:
    """Every spike_gemv config on each decode shape, timed from a CUDA graph of back-to-back calls
    whose weights rotate over more than the L2 cache (so each call streams from HBM, as in a step)."""
    from targets.cuda.kernels import spike_gemv as g
    tuned = g._TUNED["cuda"]
    print("\nspike_gemv at one token, per config (graph-timed, weights rotated past L2): us and GB/s")
    for n, k in shapes:
        copies = max(2, -(-200_000_000 // (n * k)))
        ws = [torch.randint(-127, 128, (n, k), dtype=torch.int8, device="cuda") for _ in range(copies)]
        s = torch.randint(-3, 4, (k,), dtype=torch.int8, device="cuda")
        scale, vth = torch.rand(n, device="cuda"), torch.rand(1, 1, device="cuda")
        y = torch.empty((1, n), dtype=torch.bfloat16, device="cuda")
        sums, cnt = g._workspace(n, torch.device("cuda"))
        row = []
        for cfg in g._CONFIGS["cuda"] + [g._config(*c) for c in EXTRA_GEMV]:
            meta = cfg.all_kwargs()
            grid = (triton.cdiv(n, meta["BLOCK_N"]), g._splits(n, k, meta["BLOCK_N"], meta["BLOCK_K"], meta["PROGRAMS"]))

            def call(w: torch.Tensor) -> None:
                tuned.tuner.fn.run(s, w, scale, vth, scale, scale, scale, y, sums, cnt, n, k, w.stride(0),
                                   HAS_BIAS=False, HAS_RES=False, HAS_FLOOR=False, enable_fp_fusion=False, grid=grid,
                                   warmup=False, **meta)
            for w in ws:
                call(w)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                for _ in range(4):
                    for w in ws:
                        call(w)
            graph.replay()
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(5):
                graph.replay()
            torch.cuda.synchronize()
            us = (time.perf_counter() - t0) / (20 * copies) * 1e6
            row.append(f"{meta['BLOCK_N']}x{meta['BLOCK_K']}/{cfg.num_warps}w{cfg.num_stages}s/"
                       f"{'dot' if meta['DOT'] else 'alu'}/{meta['PROGRAMS']}: {us:.1f} us {n * k / us / 1e3:.0f} GB/s")
        print(f"  N={n} K={k}:\n    " + "\n    ".join(row), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="random:spikingbrain-7b:0:paper")
    ap.add_argument("--prefill", type=int, default=8192)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--no-gemv", action="store_true", help="skip the per-config GEMV sweep")
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
    pstats.Stats(host).sort_stats("cumulative").print_stats(2 * args.top)
    ex.graphs = True
    for _ in range(3):
        tok.copy_(ex.decode(tok).argmax(-1))
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(64):
        tok.copy_(ex.decode(tok).argmax(-1))
    torch.cuda.synchronize()
    print(f"\ngraph decode: {(time.perf_counter() - t0) / 64 * 1e3:.3f} ms/token")
    ex.graphs = False
    t0 = time.perf_counter()
    for _ in range(16):
        tok.copy_(ex.decode(tok).argmax(-1))
    torch.cuda.synchronize()
    print(f"eager decode: {(time.perf_counter() - t0) / 16 * 1e3:.3f} ms/token")
    if not args.no_gemv:
        gemv_bandwidth([(4608, 3584), (37888, 3584), (3584, 18944), (3584, 3584)])


if __name__ == "__main__":
    main()
