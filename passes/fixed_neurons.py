"""Float spiking neurons to neurocore compartments in Loihi's fixed point."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sbcompile.ir import Builder, Module, Op
from sbcompile.ir.dialects.neuron import IF, LIF, CubaLIF, LIFContinuous, LoihiLIF, LoihiLIFParams
from sbcompile.ir.dialects.nn import Scale
from sbcompile.ir.dialects.syn import Dense

from . import fixed_recurrent
from .base import Pass, PassContext, option
from .registry import register_pass
from .report import fixed_point_section

# The compartment floors its input current; half a current unit (<< 6) of bias makes that a
# rounding on average instead of a loss of half a unit per step.
FLOOR_CORRECTION = 32


@dataclass(frozen=True)
class Discrete:
    """A neuron as one Loihi CUBA step: u = (1 - syn_decay) u + gain I; v = (1 - leak) v + u + bias;
    spike where v crosses v_th (> or >=: the compartment's threshold, a multiple of 64 units, cannot
    tell them apart), then v = 0. syn_decay = 1 keeps no current."""

    syn_decay: float
    leak: float
    gain: float
    bias: float
    v_th: float


def uniform(module: Module, op: Op, field: str) -> float | None:
    """A per-neuron parameter array's one value, or None if its neurons differ."""
    a = np.asarray(module.weights.get(getattr(op.params, field)), np.float64)
    return float(a.reshape(-1)[0]) if a.size and np.all(a == a.reshape(-1)[0]) else None


def discrete_form(module: Module, op: Op) -> Discrete | str:
    """The op's Loihi step, or why it has none."""
    p = op.params
    if op.operands[0].type.kind != "tensor":
        return "its input is spikes; a compartment takes an integer current (give it a projection)"
    if op.isa(LIF):
        if p.reset != "zero" or p.v_reset != 0:
            return "resets by subtraction or to a non-zero voltage (a Loihi LIF resets to 0)"
        return Discrete(1.0, p.leak, p.gain, p.bias, p.v_th)
    if getattr(p, "reset", "value") == "subtract":
        return "resets by subtraction (a Loihi LIF resets to 0)"
    if fixed_recurrent.why_not(module, op):
        return fixed_recurrent.why_not(module, op)
    fields = {f: uniform(module, op, f) for f in type(op.opdef).arrays}
    if any(v is None for v in fields.values()):
        return "per-neuron parameters differ (a Loihi LIF population shares its decays and threshold)"
    if fields["v_reset"] != 0:
        return "resets to a non-zero voltage (a Loihi LIF resets to 0)"
    dt = p.dt
    if op.isa(IF):
        return Discrete(1.0, 0.0, dt * fields["r"], 0.0, fields["v_threshold"])
    if op.isa(LIFContinuous):
        a = dt / fields["tau"]
        return Discrete(1.0, a, a * fields["r"], a * fields["v_leak"], fields["v_threshold"])
    if op.isa(CubaLIF):
        a_syn, a_mem = dt / fields["tau_syn"], dt / fields["tau_mem"]
        return Discrete(a_syn, a_mem, a_mem * fields["r"] * a_syn * fields["w_in"], a_mem * fields["v_leak"],
                        fields["v_threshold"])
    return f"{op.name} has no Loihi compartment form here"


NEURONS = (LIF, IF, LIFContinuous, CubaLIF)


@register_pass
@dataclass(frozen=True)
class FixedNeurons(Pass):
    """Turns float spiking populations (`neuron.lif`, and NIR's `neuron.if`, `neuron.lif_ct`,
    `neuron.cuba_lif`) into `neuron.loihi_lif`, Loihi's CUBA compartment, which Lava's built-in
    LIF runs bit for bit. Voltages are scaled by 2^p so that the threshold becomes an integer
    mantissa near 2^threshold-bits; the input current is scaled alike (with the neuron's gain),
    folded into the weights of a float projection that only this population reads, else by an
    `nn.scale` before it (the integer current is its floor). Leaks become 12-bit decays
    (dv = round(leak 4096); du = 4095 keeps no current between steps, a CUBA synapse gets
    du = round(4096 dt / tau_syn) - 1), and the bias (plus half a current unit, which turns the
    compartment's floor of its input into a rounding) becomes mantissa << exponent. Spikes can
    differ from the float model's where that rounding moves a voltage across the threshold.

    A population a Loihi LIF cannot express (reset by subtraction or to a non-zero voltage,
    neurons with different parameters, a threshold or bias beyond the fields) stays float, on the
    host, and the report says why. Guarantees: every converted op is a `neuron.loihi_lif` with
    `fixed.scale_exp` = p."""

    name = "fixed-neurons"
    threshold_bits: int = option(12, "threshold mantissa width to aim for (vth is 17-bit; v, 24-bit, "
                                     "keeps 2^(17 - bits) of headroom)")

    report_rank = 40
    report_section = staticmethod(fixed_point_section)

    def run(self, module: Module, ctx: PassContext) -> bool:
        section: dict = {"converted": {}, "kept_float": {}}
        for op in list(module.ops):
            if not op.isa(*NEURONS):
                continue
            form = discrete_form(module, op)
            why = form if isinstance(form, str) else self.why_not(form)
            if why:
                section["kept_float"][op.result.name] = why
            else:
                section["converted"][op.result.name] = self.convert(module, op, form)
        if section["converted"] or section["kept_float"]:
            ctx.report["fixed_neurons"] = section
        return bool(section["converted"])

    def why_not(self, d: Discrete) -> str | None:
        if d.v_th <= 0 or d.gain <= 0:
            return "threshold and gain must be positive"
        if not (0 <= d.leak <= 1 and 1 / 4096 <= d.syn_decay <= 1):
            return f"decays out of range (leak {d.leak:g}, synaptic {d.syn_decay:g})"
        if bias_fields(d.bias * 2.0 ** self.scale_exp(d.v_th) * 64 + FLOOR_CORRECTION) is None:
            return f"bias {d.bias:g} does not fit a 13-bit mantissa and 3-bit exponent"
        return None

    def scale_exp(self, v_th: float) -> int:
        return max(-24, min(24, self.threshold_bits - math.ceil(math.log2(v_th))))

    def convert(self, module: Module, op: Op, d: Discrete) -> dict:
        e = self.scale_exp(d.v_th)
        factor = d.gain * 2.0 ** e
        bias_mant, bias_exp = bias_fields(d.bias * 2.0 ** e * 64 + FLOOR_CORRECTION)
        vth = min(int(round(d.v_th * 2.0 ** e)), 2 ** 17 - 1)
        fixed_recurrent.fold_bias(module, op)
        how = self.scale_current(module, op, factor)
        dv = min(4095, max(0, int(round(d.leak * 4096))))
        du = min(4095, max(0, int(round(d.syn_decay * 4096)) - 1))
        rec = fixed_recurrent.codes(module, op, op.params, factor)
        op.name = LoihiLIF.name
        op.params = LoihiLIFParams(du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp, **rec)
        op.attrs["fixed.scale_exp"] = e
        return {"scale_exp": e, "vth": vth, "du": du, "dv": dv, "bias": [bias_mant, bias_exp],
                "current_scaled_by": how}

    @staticmethod
    def scale_current(module: Module, op: Op, factor: float) -> str:
        """Multiply the op's input current by `factor`: in the weights of a float projection read
        only here, else with an `nn.scale` placed just before the op."""
        current = op.operands[0]
        src = current.owner
        if src is not None and src.isa(Dense) and src.params.scale is None \
                and len(module.users().get(current.name, [])) == 1:
            update = {}
            for field in ("weight", "bias"):
                name = getattr(src.params, field)
                if name is not None:
                    update[field] = f"{name}.x{factor:g}"
                    module.weights.add(update[field], (np.asarray(module.weights.get(name), np.float64)
                                                       * factor).astype(np.float32))
            src.params = src.params.model_copy(update=update)
            return "weights"
        scaled = Builder(module).op(Scale, [current], factor=factor, result=f"{op.result.name}_current",
                                    loc=op.loc)
        module.ops.insert(module.ops.index(op), module.ops.pop())
        op.operands[0] = scaled
        return Scale.name


def bias_fields(value: float) -> tuple[int, int] | None:
    """value ~ mantissa << exponent, mantissa 13-bit signed, exponent 0..7 (None if it does not fit)."""
    for exp in range(8):
        mant = int(round(value / 2 ** exp))
        if -4096 <= mant <= 4095:
            return mant, exp
    return None
