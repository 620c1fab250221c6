"""`cuda` and `metax`: Triton kernels generated from the IR (lower.py), run through PyTorch on the
GPU, or on CPU tensors in Triton's interpreter (TRITON_INTERPRET=1). Both run the same templates
(kernels/); the flavour picks the tuning space. torch and triton are imported only when a target
emits or runs, so `import sbcompile.targets` stays light."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from sbcompile.ir import Module, SbirError

from ..base import Target
from ..registry import register_target
from .machine import CudaMachine


class _GpuTarget(Target):
    flavour: ClassVar[str] = "cuda"
    default_pipeline = "canonicalize,cse,dce"

    def machine(self) -> CudaMachine:
        return CudaMachine()

    def emit(self, module: Module, out_dir: Path, report: dict | None = None) -> list[str]:
        from . import lower
        return lower.emit(module, Path(out_dir), self.name, self.flavour)

    def open(self, artifact: Path, module: Module) -> Any:
        try:
            from .session import CudaSession
        except ImportError as e:
            raise SbirError(f"target '{self.name}' needs torch and triton to run ({e})") from None
        return CudaSession(module, target=self.name, flavour=self.flavour,
                           artifact=Path(artifact) if artifact is not None else None)


@register_target
class CudaTarget(_GpuTarget):
    name = "cuda"
    summary = "Triton kernels generated from the IR, run through PyTorch on an NVIDIA GPU (CPU: TRITON_INTERPRET=1)"
    flavour = "cuda"


@register_target
class MetaxTarget(_GpuTarget):
    name = "metax"
    summary = "the cuda target's kernels with MetaX (mcTriton) tuning"
    flavour = "metax"
