"""Direct launches of compiled kernels, for decode without a CUDA graph.

An eager decode step is a few hundred launches of short kernels, so its speed is the host's cost per
launch. Triton's JIT call binds the arguments, builds the specialisation key (and a string of the
options), looks the binary up and reads its runtime knobs, on every call. Here a call site's
arguments are first reduced to a key at least as fine as Triton's specialisation (each tensor's
dtype and 16-byte alignment; each integer's equality to 1, divisibility by 16 and type; every
keyword as given); the first call with a key goes through Triton, which returns the compiled
kernel, and later calls with that key hand it to its launcher directly (the stream, the launch
hooks and their metadata as Triton's own launch passes them). Triton's own cache decides what is
compiled, so a finer key only adds entries that point to the same binary.

Calls whose arguments are not plain (a TMA descriptor, a tuple) always take Triton's path, and so
does everything in the interpreter, which has no compiled kernels, and every kernel not compiled for
Triton's NVIDIA backend (MetaX's mcTriton keeps its own launcher, whose signature is not checked here)."""

from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
from triton import knobs
from triton.compiler import CompiledKernel
from triton.runtime import driver

_I32, _U64 = (-2 ** 31, 2 ** 31), 2 ** 63  # an integer argument is i32, i64 or (from 2^63) u64


class _NotPlain(Exception):
    """An argument the direct key does not describe."""


def _spec(a: Any) -> Any:
    """The part of an argument Triton may specialise on (a refinement of it)."""
    t = type(a)
    if t is int:
        return (a == 1, a % 16 == 0, _I32[0] <= a < _I32[1], a >= _U64)
    if t is float or t is bool or a is None:
        return t
    if isinstance(a, torch.Tensor):
        return (a.dtype, a.data_ptr() % 16 == 0)
    raise _NotPlain


def _current_stream() -> Any:
    active = driver.active
    return active.get_current_stream(active.get_current_device())


def _nvidia(kernel: CompiledKernel) -> bool:
    return getattr(getattr(kernel.metadata, "target", None), "backend", None) == "cuda"


def _unhooked(hook: Any) -> bool:
    """No launch hook is set (Triton up to 3.6: None; later: an empty HookChain)."""
    return hook is None or getattr(hook, "calls", None) == []


class Launcher:
    """`launcher[grid](*args, **kwargs)` launches `fn` as `fn[grid](...)` would, directly after the
    first call of each specialisation."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.names: list[str] = list(fn.arg_names)
        self.defaults = {n: p.default for n, p in inspect.signature(fn.fn).parameters.items()
                         if p.default is not inspect.Parameter.empty}
        self.kernels: dict[tuple, CompiledKernel] = {}

    def __getitem__(self, grid: Any) -> Callable:
        return lambda *args, **kwargs: self.launch(grid, args, kwargs)

    def launch(self, grid: Any, args: tuple, kwargs: dict, tag: Any = None) -> Any:
        """`tag`: the caller's key, standing for the keywords (an autotuner's key, which holds them and
        picked the config they were merged with)."""
        try:
            key = (tag if tag is not None else tuple(kwargs.items()), tuple(map(_spec, args)))
            kernel = self.kernels.get(key)
        except (_NotPlain, TypeError):  # TypeError: an unhashable keyword value
            return self.fn.run(*args, grid=grid, warmup=False, **kwargs)
        if kernel is None:
            out = self.fn.run(*args, grid=grid, warmup=False, **kwargs)
            if isinstance(out, CompiledKernel) and _nvidia(out):
                self.kernels[key] = out
            return out
        full = args + tuple(kwargs[n] if n in kwargs else self.defaults[n] for n in self.names[len(args):])
        g = grid(dict(zip(self.names, full))) if callable(grid) else grid
        g = (g[0], g[1] if len(g) > 1 else 1, g[2] if len(g) > 2 else 1)
        stream = _current_stream()
        enter, leave = knobs.runtime.launch_enter_hook, knobs.runtime.launch_exit_hook
        meta = None if _unhooked(enter) and _unhooked(leave) else kernel.launch_metadata(g, stream, *full)
        kernel.run(*g, stream, kernel.function, kernel.packed_metadata, meta, enter, leave, *full)
        return kernel
