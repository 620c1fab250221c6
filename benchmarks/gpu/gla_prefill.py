"""GLA chunked prefill: our Triton kernel vs a torch.compile'd PyTorch chunked form and, where
flash-linear-attention is installed, its `chunk_gla` (SpikingBrain-7B GLA layer: 28 query heads,
4 kv heads, head dim 128, bf16 q/k/v, float32 log gates).

    python benchmarks/gpu/gla_prefill.py [--tokens 4096 16384 32768] [--batch 1]

fla's `chunk_gla` has one state per query head, so it gets k, v and g repeated to the 28 query
heads, as fla's own GLA layer does for grouped kv heads (our kernel keeps one state per kv head).

The PyTorch form: per-chunk (64 tokens) intra-chunk products as batched matmuls, chunk states
from a log-depth parallel scan (no Python loop over chunks, so torch.compile traces a small graph).
ratio = compiled PyTorch time / ours (above 1: ours is faster), both timed as CUDA-graph replays."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from triton.testing import do_bench_cudagraph

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from targets.cuda.kernels.gla_chunked import gla_chunked  # noqa: E402

try:
    from fla.ops.gla import chunk_gla
except ImportError:
    chunk_gla = None


def torch_chunked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, scale: float,
                  chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Same math as the kernel, in PyTorch ops: [B,T,H,K] layouts, GQA by reshaping q heads."""
    b, t, h, dk = q.shape
    hkv, dv = v.shape[2], v.shape[3]
    n, rep = t // chunk, h // hkv
    qc = q.view(b, n, chunk, hkv, rep, dk).permute(0, 1, 3, 4, 2, 5).float() * scale  # b n hkv rep c k
    kc = k.view(b, n, chunk, hkv, dk).permute(0, 1, 3, 2, 4).float()                  # b n hkv c k
    vc = v.view(b, n, chunk, hkv, dv).permute(0, 1, 3, 2, 4)                          # b n hkv c v
    G = g.view(b, n, chunk, hkv, dk).permute(0, 1, 3, 2, 4).float().cumsum(-2)        # b n hkv c k
    g_mid, g_last = G[..., chunk // 2 - 1: chunk // 2, :], G[..., -1:, :]
    a = (qc * (G - g_mid).exp()[:, :, :, None]) @ (kc * (g_mid - G).exp()).transpose(-1, -2)[:, :, :, None]
    a = a.masked_fill(~torch.ones(chunk, chunk, dtype=torch.bool, device=q.device).tril(), 0.0)
    delta = ((kc * (g_last - G).exp()).to(v.dtype).transpose(-1, -2) @ vc).float()    # b n hkv k v
    decay = g_last.squeeze(-2).exp()[..., None].expand_as(delta).contiguous()         # b n hkv k v
    states = delta.clone()
    step = 1
    while step < n:  # inclusive scan of S_c = decay_c * S_{c-1} + delta_c
        states = torch.cat([states[:, :step], states[:, step:] + decay[:, step:] * states[:, :-step]], 1)
        decay = torch.cat([decay[:, :step], decay[:, step:] * decay[:, :-step]], 1)
        step *= 2
    prev = F.pad(states[:, :-1], (0, 0, 0, 0, 0, 0, 1, 0))                             # state before each chunk
    o = (qc * G.exp()[:, :, :, None]).to(v.dtype) @ prev.to(v.dtype)[:, :, :, None]
    o = o + a.to(v.dtype) @ vc[:, :, :, None]
    return o.permute(0, 1, 4, 2, 3, 5).reshape(b, t, h, dv), states[:, -1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tokens", type=int, nargs="+", default=[4096, 16384, 32768])
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args()
    torch.set_float32_matmul_precision("high")  # tf32 for the float32 products, as in the kernel
    dev = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}")
    compiled = torch.compile(torch_chunked)
    h, hkv, d = 28, 4, 128
    rows = []
    for t in args.tokens:
        gen = torch.Generator(device=dev).manual_seed(t)
        q = torch.relu(torch.randn(args.batch, t, h, d, device=dev, generator=gen)).to(torch.bfloat16)
        k = torch.relu(torch.randn(args.batch, t, hkv, d, device=dev, generator=gen)).to(torch.bfloat16)
        v = torch.randn(args.batch, t, hkv, d, device=dev, generator=gen).to(torch.bfloat16)
        g = F.logsigmoid(torch.randn(args.batch, t, hkv, d, device=dev, generator=gen) * 4) / 16
        o, s = gla_chunked(q, k, v, g)
        o_ref, s_ref = compiled(q, k, v, g, d ** -0.5)
        err_o = float((o.float() - o_ref.float()).norm() / o_ref.float().norm())
        err_s = float((s - s_ref).norm() / s_ref.norm())
        t_ours = do_bench_cudagraph(lambda: gla_chunked(q, k, v, g), rep=100, return_mode="median")
        t_ref = do_bench_cudagraph(lambda: compiled(q, k, v, g, d ** -0.5), rep=100, return_mode="median")
        fla = fla_row(q, k, v, g, d ** -0.5, o) if chunk_gla is not None else None
        rows.append((t, t_ref, t_ours, err_o, err_s, fla))
        print(f"  done T={t}", flush=True)
    print(f"\n| B | T | torch.compile chunked ms | ours ms | ratio | ours Mtok/s | rel diff o | rel diff state "
          f"| fla chunk_gla ms | fla / ours | rel diff o vs fla |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for t, tr, to, eo, es, fla in rows:
        tf = f"{fla[0]:.3f} | {fla[0] / to:.2f}x | {fla[1]:.1e}" if fla else "not installed | - | -"
        print(f"| {args.batch} | {t} | {tr:.3f} | {to:.3f} | {tr / to:.2f}x | {args.batch * t / to / 1e3:.2f} | "
              f"{eo:.1e} | {es:.1e} | {tf} |")


def fla_row(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, scale: float,
            ours: torch.Tensor) -> tuple[float, float]:
    """fla's chunk_gla on the kv heads repeated to the query heads: its time and its difference to ours."""
    rep = q.shape[2] // k.shape[2]
    kr, vr, gr = (x.repeat_interleave(rep, dim=2) for x in (k, v, g))
    fn = lambda: chunk_gla(q, kr, vr, gr, scale=scale, output_final_state=True)  # noqa: E731
    o, _ = fn()
    err = float((o.float() - ours.float()).norm() / o.float().norm())
    return do_bench_cudagraph(fn, rep=100, return_mode="median"), err


if __name__ == "__main__":
    main()
