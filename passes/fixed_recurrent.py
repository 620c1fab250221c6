"""The recurrent projection of a float NIR population (`rec_weight`, `rec_bias`: NIR's cycle
neuron -> Linear/Affine -> neuron) in a Loihi compartment's fixed point, for the fixed-neurons
pass: the weights become 8-bit codes with one power-of-two exponent (a neurocore Dense from the
population's spikes back to its own input, which delivers them one step later, as the IR's
recurrence does), and a recurrent Affine's bias, a constant current every step, joins the bias of
the float projection that feeds the population (read by it alone)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sbcompile.ir import Module, Op
from sbcompile.ir.dialects.syn import Dense

CODE_MAX = 127  # 8-bit mixed-sign synapses (Lava keeps them even: the lowering doubles them)
REC_EXP_RANGE = (-7, 8)  # Lava's Dense weight_exp (-8..7) less the doubling's 1


def _rec_bias(module: Module, op: Op) -> np.ndarray | None:
    b = getattr(op.params, "rec_bias", None)
    if b is None:
        return None
    a = np.asarray(module.weights.get(b), np.float64)
    return a if np.any(a != 0) else None


def _feeding_projection(module: Module, op: Op) -> Op | None:
    src = op.operands[0].owner
    if src is not None and src.isa(Dense) and src.params.scale is None \
            and len(module.users().get(op.operands[0].name, [])) == 1:
        return src
    return None


def why_not(module: Module, op: Op) -> str | None:
    """Why the op's recurrence has no compartment form, or None (also None without recurrence)."""
    if getattr(op.params, "rec_weight", None) is None:
        return None
    if _rec_bias(module, op) is not None and _feeding_projection(module, op) is None:
        return "a recurrent Affine's bias needs a float projection read only by this population to join"
    return None


def fold_bias(module: Module, op: Op) -> None:
    """The recurrent bias joins the feeding projection's bias (before the current is scaled)."""
    b = _rec_bias(module, op)
    if b is None:
        return
    src = _feeding_projection(module, op)
    old = np.zeros(src.params.out_features) if src.params.bias is None else np.asarray(module.weights.get(src.params.bias))
    name = f"{src.params.weight}.bias+{op.params.rec_bias}"
    module.weights.add(name, (old.astype(np.float64) + b).astype(np.float32))
    src.params = src.params.model_copy(update={"bias": name})


def codes(module: Module, op: Op, float_params: Any, factor: float) -> dict[str, Any]:
    """The recurrent weights, scaled into the compartment's current like its input (`factor`), as
    integer codes and an exponent: LoihiLIFParams' rec_weight and rec_exp."""
    if getattr(float_params, "rec_weight", None) is None:
        return {}
    w = np.asarray(module.weights.get(float_params.rec_weight), np.float64) * factor
    top = float(np.abs(w).max(initial=0.0))
    e = REC_EXP_RANGE[0] if top == 0 else min(max(math.ceil(math.log2(top / CODE_MAX)), REC_EXP_RANGE[0]), REC_EXP_RANGE[1])
    c = np.clip(np.rint(w / 2.0 ** e), -CODE_MAX, CODE_MAX).astype(np.int32)
    name = f"{op.result.name}.rec_codes"
    module.weights.add(name, c)
    return {"rec_weight": name, "rec_exp": e}
