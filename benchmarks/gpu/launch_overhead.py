"""Host time of one kernel launch, by launch path: Triton's JIT call (binding, specialisation key,
cache lookup, launch), the compiled kernel's own launcher, and a PyTorch op for scale. Decode without
a CUDA graph is hundreds of launches per token, so this is what eager decode costs on the host.

    python3 benchmarks/gpu/launch_overhead.py"""

from __future__ import annotations

import time

import torch
import triton
import triton.language as tl


@triton.jit
def _axpy(x_ptr, y_ptr, z_ptr, w_ptr, s_ptr, n, m, stride, a, BLOCK: tl.constexpr, FLAG: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    v = tl.load(x_ptr + i, mask=i < n) * a + tl.load(y_ptr + i, mask=i < n)
    if FLAG:
        v += tl.load(w_ptr + i % m) + tl.load(s_ptr + stride)
    tl.store(z_ptr + i, v, mask=i < n)


def per_call(fn, reps: int = 3000) -> float:
    for _ in range(100):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / reps * 1e6


def main() -> None:
    n = 4096
    x, y, z, w, s = (torch.randn(n, device="cuda") for _ in range(5))
    args = (x, y, z, w, s, n, 64, 3, 0.5)
    grid = (triton.cdiv(n, 1024),)
    kernel = _axpy[grid](*args, BLOCK=1024, FLAG=True, num_warps=4)
    full = args + (1024, True)
    print(f"triton {triton.__version__}, torch {torch.__version__}")
    print(f"  JIT call fn[grid](...)        {per_call(lambda: _axpy[grid](*args, BLOCK=1024, FLAG=True, num_warps=4)):6.1f} us")
    print(f"  compiled[grid](*args)         {per_call(lambda: kernel[grid + (1, 1)](*full)):6.1f} us")
    stream = torch.cuda.current_stream().cuda_stream
    run, fnc, meta = kernel.run, kernel.function, kernel.packed_metadata
    print(f"  compiled.run(...) direct      {per_call(lambda: run(grid[0], 1, 1, stream, fnc, meta, None, None, None, *full)):6.1f} us")
    print(f"  torch.clamp_min(x, 0)         {per_call(lambda: torch.clamp_min(x, 0)):6.1f} us")
    print(f"  torch.empty(4096)             {per_call(lambda: torch.empty(n, device='cuda')):6.1f} us")
    print(f"  torch.cuda.current_stream()   {per_call(lambda: torch.cuda.current_stream().cuda_stream):6.1f} us")


if __name__ == "__main__":
    main()
