"""Autotuning per flavour, and what changes when kernels run in Triton's CPU interpreter.

Flavours: `cuda` (NVIDIA, tuned for the H100) and `metax` (MetaX mcTriton: 64-lane warps, at most
16 warps, no Hopper-only paths). Every kernel here is plain `triton.language` (pointer loads, `tl.dot`,
no TMA, no warp specialisation, no lane-count assumption), so a flavour only picks the config space.
The interpreter cannot benchmark configs (it has no driver), so there each kernel keeps its first."""

from __future__ import annotations

import os
from typing import Any, Callable, Literal

import triton

from .launch import Launcher

Flavour = Literal["cuda", "metax"]
FLAVOURS: tuple[Flavour, ...] = ("cuda", "metax")


def interpreting() -> bool:
    """True when kernels run in Triton's numpy interpreter (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


class Tuned:
    """An autotuner that, once it has picked a config for a call's key, launches that config itself.

    Without a CUDA graph a decode step is hundreds of small launches, bound by host time; the
    autotuner's per-call work (argument dicts, dtype strings, config merging) is a good part of it.
    The key here is what the autotuner keys on: the `key` arguments' values and the tensors' dtypes.
    The picked config's launches go through a Launcher (launch.py). A config with a pre_hook is always
    launched through the autotuner."""

    def __init__(self, tuner: Any, key: list[str]) -> None:
        self.tuner = tuner
        self.where = [(tuner.arg_names.index(k), k) for k in key]
        self.picked: dict[tuple, dict[str, Any]] = {}
        self.launcher = Launcher(tuner.fn)

    def __getitem__(self, grid: Any) -> Callable:
        return lambda *args, **kwargs: self.launch(grid, args, kwargs)

    def launch(self, grid: Any, args: tuple, kwargs: dict) -> Any:
        key = (tuple(args[i] if i < len(args) else kwargs.get(k) for i, k in self.where),
               tuple(kwargs.items()), tuple(getattr(a, "dtype", None) for a in args))
        picked = self.picked.get(key)
        if picked is None:
            out = self.tuner[grid](*args, **kwargs)
            if self.tuner.best_config.pre_hook is None:
                self.picked[key] = self.tuner.best_config.all_kwargs()
            return out
        return self.launcher.launch(grid, args, {**kwargs, **picked}, tag=key)


def autotuned(fn: triton.JITFunction, configs: dict[Flavour, list[triton.Config]], key: list[str],
              **kwargs: object) -> dict[Flavour, Tuned]:
    """One autotuner per flavour over the same kernel source; a single config when interpreting."""
    out: dict[Flavour, Tuned] = {}
    for flavour in FLAVOURS:
        cfgs = configs[flavour][:1] if interpreting() else configs[flavour]
        out[flavour] = Tuned(triton.autotune(configs=cfgs, key=key, **kwargs)(fn), key)
    return out


def config(num_warps: int, num_stages: int, **meta: int) -> triton.Config:
    """A triton.Config with the launch options spelled out (MetaX caps num_warps at 16)."""
    return triton.Config(dict(meta), num_warps=num_warps, num_stages=num_stages)
