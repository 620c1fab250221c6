"""Spike GEMM (int8 counts x int8 weights, exact int32 accumulation) vs bf16 torch.matmul (cuBLAS)
on SpikingBrain-7B projection shapes. Prints a ratio table; checks exactness against torch._int_mm.

    python benchmarks/gpu/spike_gemm.py [--tokens 4096 16384 65536]

ratio = bf16 time / ours (above 1: ours is faster), both timed as CUDA-graph replays. Ours is timed with a float32 output (the
kernel's contract) and with a bf16 output (like for like with cuBLAS's bf16 output)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from triton.testing import do_bench_cudagraph

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from targets.cuda.kernels.spike_gemm import spike_gemm, spike_gemm_grouped  # noqa: E402

SHAPES = {"q/o 3584->3584": (3584, 3584), "k/v 3584->512": (3584, 512),
          "gate/up 3584->18944": (3584, 18944), "down 18944->3584": (18944, 3584)}


def bench(fn) -> float:
    """Median ms of CUDA-graph replays: GPU time without Python launch overhead (tuning runs first)."""
    fn()
    torch.cuda.synchronize()
    return do_bench_cudagraph(fn, rep=100, return_mode="median")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tokens", type=int, nargs="+", default=[4096, 16384, 65536])
    args = ap.parse_args()
    dev = torch.device("cuda")
    gen = torch.Generator(device=dev).manual_seed(0)
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}")
    rows = []
    for name, (k, n) in SHAPES.items():
        w = torch.randint(-127, 128, (n, k), dtype=torch.int8, device=dev, generator=gen)
        scale = torch.rand(n, device=dev, generator=gen) / 127
        gscale = torch.rand(n, k // 128, device=dev, generator=gen) / 127
        bias = torch.randn(n, device=dev, generator=gen)
        wb = torch.randn(n, k, device=dev, generator=gen, dtype=torch.bfloat16)
        for m in args.tokens:
            s = torch.clamp(torch.randn(m, k, device=dev, generator=gen) * 3, -127, 127).round().to(torch.int8)
            vth = torch.rand(m, 1, device=dev, generator=gen) + 0.05
            xb = torch.randn(m, k, device=dev, generator=gen, dtype=torch.bfloat16)
            y = spike_gemm(s, w, scale, vth, bias)
            ref = (torch._int_mm(s, w.t()).float() * scale) * vth + bias
            exact = torch.equal(y, ref)
            del y, ref
            t_bf16 = bench(lambda: torch.matmul(xb, wb.t()))
            t_f32 = bench(lambda: spike_gemm(s, w, scale, vth, bias))
            t_out_bf16 = bench(lambda: spike_gemm(s, w, scale, vth, bias, out_dtype=torch.bfloat16))
            t_grp = bench(lambda: spike_gemm_grouped(s, w, gscale, vth, bias, out_dtype=torch.bfloat16))
            t_int = bench(lambda: torch._int_mm(s, w.t()))
            tops = 2 * m * n * k / 1e12
            rows.append((name, m, t_bf16, t_f32, t_out_bf16, t_grp, t_int, tops, exact))
            print(f"  done {name} M={m}", flush=True)
            del s, xb, vth
            torch.cuda.empty_cache()
    print("\n| shape (K->N) | M | bf16 cuBLAS ms | ours f32-out ms | ours bf16-out ms | ratio f32-out | "
          "ratio bf16-out | ours TOPS | group-128 ratio | torch._int_mm ratio | exact |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, m, tb, tf, to, tg, ti, tops, exact in rows:
        print(f"| {name} | {m} | {tb:.3f} | {tf:.3f} | {to:.3f} | {tb / tf:.2f}x | {tb / to:.2f}x | "
              f"{tops / (to / 1e3):.0f} | {tb / tg:.2f}x | {tb / ti:.2f}x | {exact} |")


if __name__ == "__main__":
    main()
