"""`cuda` and `metax`: Triton kernels generated from the IR (lower.py), run through PyTorch on the
GPU, or on CPU tensors in Triton's interpreter (TRITON_INTERPRET=1). Both run the same templates
(kernels/); the flavour picks the tuning space. torch and triton are imported only when a target
emits or runs, so `import sbcompile.targets` stays light."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, ClassVar

from sbcompile.ir import Module, SbirError

from ..base import Target
from ..registry import register_target
from .machine import CudaMachine

PLAN_FILE = "plan.json"


class _GpuTarget(Target):
    flavour: ClassVar[str] = "cuda"
    default_pipeline = ("canonicalize,cse,dce,quantize,fuse-projections,fuse-silu-mul,fuse-swiglu,fuse-activation,"
                        "fuse-encode,fuse-residual")

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._interpret_without_gpu(running=False)

    def machine(self) -> CudaMachine:
        return CudaMachine()

    def emit(self, module: Module, out_dir: Path, report: dict | None = None) -> list[str]:
        from . import lower, plan
        written = lower.emit(module, Path(out_dir), self.name, self.flavour)
        try:
            segments = plan.build(module)
        except SbirError as e:  # such a module runs through the op-by-op session only
            if report is not None:
                report.setdefault("cuda", {})["plan"] = f"none: {e}"
            return written
        text = json.dumps(plan.describe(module, segments, self.name, self.flavour), indent=1) + "\n"
        (Path(out_dir) / PLAN_FILE).write_text(text)
        return written + [PLAN_FILE]

    def open(self, artifact: Path, module: Module) -> Any:
        """The compiled plan (executor.py) when the module has one, else the op-by-op session (without a
        CUDA device, in Triton's CPU interpreter)."""
        self._interpret_without_gpu(running=True)
        try:
            from . import plan
            from .session import CudaSession
        except ImportError as e:
            raise SbirError(f"target '{self.name}' needs torch and triton to run ({e})") from None
        try:
            plan.build(module)
        except SbirError:
            return CudaSession(module, target=self.name, flavour=self.flavour,
                               artifact=Path(artifact) if artifact is not None else None)
        from .executor import Executor
        return Executor(module, flavour=self.flavour)

    def _interpret_without_gpu(self, running: bool) -> None:
        """No CUDA device: the kernels run in Triton's CPU interpreter. Triton reads TRITON_INTERPRET
        when it is imported (tl.sum and its kin are kernels too), so it is set as soon as the target is
        made, before a frontend's torch imports triton; a run where triton came first says how to start."""
        if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
            return
        try:
            import torch
        except ImportError:
            return  # open() says that torch is needed
        if torch.cuda.is_available():
            return
        if "triton" not in sys.modules:
            os.environ["TRITON_INTERPRET"] = "1"
        elif running:
            raise SbirError(f"target '{self.name}': no CUDA GPU here, and triton was imported before the target "
                            f"could select its CPU interpreter; start with TRITON_INTERPRET=1")


@register_target
class CudaTarget(_GpuTarget):
    name = "cuda"
    summary = "Triton kernels generated from the IR, run through PyTorch on an NVIDIA GPU (no GPU: Triton's interpreter)"
    flavour = "cuda"


@register_target
class MetaxTarget(_GpuTarget):
    name = "metax"
    summary = "the cuda target's kernels with MetaX (mcTriton) tuning"
    flavour = "metax"
