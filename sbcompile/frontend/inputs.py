"""An array given to `sbcompile run --inputs` checked against the module's input type before it
runs, so that a wrong shape is one line naming what was expected rather than a numpy error deep
inside an op (or, worse, a broadcast that runs)."""

from __future__ import annotations

import numpy as np

from sbcompile.ir import Module, SbirError


def check_inputs(module: Module, x: np.ndarray, source: str) -> np.ndarray:
    """`x` as the module's one input takes it: time first, then the input type's per-step dims
    (named dims other than the first take any size), numbers cast to the input's float dtype."""
    ins = module.inputs
    if len(ins) != 1:
        names = ", ".join(repr(op.params.name) for op in ins) or "none"
        raise SbirError(f"{source}: --inputs gives one array, but module @{module.name} has {len(ins)} inputs ({names})")
    t = ins[0].results[0].type
    dims = t.shape[1:]
    expected = "[time" + "".join(f", {d}" for d in dims) + "]"
    fits = x.ndim == len(t.shape) and x.shape[0] >= 1 and all(isinstance(d, str) or d == n for d, n in zip(dims, x.shape[1:]))
    if not fits:
        raise SbirError(f"{source}: input '{ins[0].params.name}' of module @{module.name} is {t}: expected an array "
                        f"{expected}, got {list(x.shape)}")
    if x.dtype.kind not in "biuf":
        raise SbirError(f"{source}: input '{ins[0].params.name}' takes numbers ({t.dtype}), got dtype {x.dtype}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise SbirError(f"{source}: the array holds NaN or infinite values")
    return x.astype(np.float32) if t.dtype.startswith(("f", "bf")) else x
