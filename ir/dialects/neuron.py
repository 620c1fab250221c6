"""`neuron`: generic spiking neurons over the time axis (the `seq` dimension doubles as time),
so that plain SNNs and NIR graphs from other frameworks compile too.

lif, per step t: v = (1 - leak) * v + gain * I[t] + bias; spike where v >= v_th; then reset
(`zero`: v = v_reset, `subtract`: v -= v_th). leak = 0 gives an integrate-and-fire neuron."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from ..opdef import EvalContext, OpDef, Params, expect, expect_kind, register
from ..runtime import SpikeArray
from ..types import Type, is_float, spikes, tensor


class LIFParams(Params):
    leak: float = 0.0
    gain: float = 1.0
    bias: float = 0.0
    v_th: float = 1.0
    v_reset: float = 0.0
    reset: Literal["zero", "subtract"] = "zero"


@register
class LIF(OpDef):
    """Leaky integrate-and-fire population; input currents [time, n] -> unit spikes [time, n]."""

    name = "neuron.lif"
    params = LIFParams
    operands = ("current",)

    def result_types(self, p: LIFParams, ts: list[Type]) -> list[Type]:
        expect_kind(ts[0], "tensor", "current")
        expect(is_float(ts[0].dtype), f"current must be floating point, got {ts[0]}")
        expect(0.0 <= p.leak <= 1.0, f"leak must lie in [0, 1], got {p.leak}")
        return [spikes(ts[0].shape, "i8")]

    def evaluate(self, p: LIFParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        current = args[0].astype(np.float32)
        st = ctx.state()
        v = st.get("v", np.zeros(current.shape[1:], np.float32))
        out = np.zeros(current.shape, np.int8)
        keep, gain, bias = np.float32(1 - p.leak), np.float32(p.gain), np.float32(p.bias)
        for t in range(current.shape[0]):
            v = keep * v + gain * current[t] + bias
            fired = v >= np.float32(p.v_th)
            out[t] = fired
            v = np.where(fired, v - np.float32(p.v_th) if p.reset == "subtract" else np.float32(p.v_reset), v)
        st["v"] = v
        return [SpikeArray(out)]


class LoihiLIFParams(Params):
    du: int = 4095
    dv: int = 0
    vth: int = 1
    bias_mant: int = 0
    bias_exp: int = 0
    rec_weight: str | None = None
    rec_exp: int = 0


U_V_LIMIT = 2 ** 23  # u and v are 24-bit registers


@register
class LoihiLIF(OpDef):
    """A Loihi neurocore's CUBA LIF compartment in its own fixed point (Lava's bit-accurate
    `LIF` model): integer current in, unit spikes out. Per step, in int32 as the core computes:
    a = floor(I) << 6; u = sign(u)(|u| (4096 - du - 1) >> 12) + a, wrapped to 24 bits;
    v = clip(sign(v)(|v| (4096 - dv) >> 12) + u + (bias_mant << bias_exp), +-(2^23 - 1));
    spike where v > vth << 6, then v = 0. du = 4095 makes u the step's input alone. `rec_weight`
    (integer codes [n, n]) is a recurrent projection onto the compartment's own input, as a
    neurocore's Dense from its spikes back to itself delivers it one step later: I[t] becomes
    floor(I[t]) + floor((codes z[t-1]) 2^rec_exp), z[-1] = 0."""

    name = "neuron.loihi_lif"
    params = LoihiLIFParams
    operands = ("current",)

    def result_types(self, p: LoihiLIFParams, ts: list[Type]) -> list[Type]:
        expect_kind(ts[0], "tensor", "current")
        expect(ts[0].rank >= 1, f"current needs a leading time dim, got {ts[0]}")
        expect(0 <= p.du <= 4095 and 0 <= p.dv <= 4095, f"du and dv are 12-bit unsigned, got du={p.du}, dv={p.dv}")
        expect(0 <= p.vth < 2 ** 17, f"vth is 17-bit unsigned, got {p.vth}")
        expect(-(2 ** 12) <= p.bias_mant < 2 ** 12, f"bias_mant is 13-bit signed, got {p.bias_mant}")
        expect(0 <= p.bias_exp <= 7, f"bias_exp is 3-bit unsigned, got {p.bias_exp}")
        expect(p.rec_weight is None or ts[0].rank == 2, f"a recurrent compartment population is one dim, got {ts[0]}")
        return [spikes(ts[0].shape, "i8")]

    def weight_shapes(self, p: LoihiLIFParams, ts: list[Type]) -> dict[str, tuple[int | str, ...]]:
        n = ts[0].shape[-1]
        return {} if p.rec_weight is None else {"rec_weight": (n, n)}

    @classmethod
    def weight_fields(cls) -> tuple[str, ...]:
        return ("rec_weight",)

    def evaluate(self, p: LoihiLIFParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        current = integer_current(args[0])
        st = ctx.state()
        u = st.get("u", np.zeros(current.shape[1:], np.int32))
        v = st.get("v", np.zeros(current.shape[1:], np.int32))
        bias = np.int32(p.bias_mant) << np.int32(p.bias_exp)
        out = np.zeros(current.shape, np.int8)
        codes = None if p.rec_weight is None else np.asarray(ctx.weight(p.rec_weight), np.int64)
        z = st.get("z", np.zeros(current.shape[1:], np.int64))
        for t in range(current.shape[0]):
            a = current[t] if codes is None else current[t] + shift_floor(codes @ z, p.rec_exp).astype(np.int32)
            u = decay(u, p.du + 1) + np.left_shift(a, 6)
            u = np.where(u > U_V_LIMIT, u - 2 * U_V_LIMIT, u)
            u = np.where(u <= -U_V_LIMIT, u + 2 * U_V_LIMIT, u).astype(np.int32)
            v = np.clip(decay(v, p.dv) + u + bias, -U_V_LIMIT + 1, U_V_LIMIT - 1).astype(np.int32)
            fired = v > (p.vth << 6)
            out[t] = fired
            v = np.where(fired, 0, v).astype(np.int32)
            z = fired.astype(np.int64)
        st["u"], st["v"], st["z"] = u, v, z
        return [SpikeArray(out)]


def integer_current(x: np.ndarray) -> np.ndarray:
    """The integer current a compartment takes: floor(I), as a synapse's weight-exponent shift gives."""
    return np.floor(np.asarray(x, np.float64)).astype(np.int32)


def shift_floor(x: np.ndarray, e: int) -> np.ndarray:
    """x 2^e, floored: a Dense's weight exponent (left shift, or arithmetic right shift)."""
    return np.left_shift(x, e) if e >= 0 else np.right_shift(x, -e)


def decay(x: np.ndarray, d: int) -> np.ndarray:
    """x (4096 - d) / 4096, truncated toward zero, as a neurocore's 12-bit decay."""
    y = x.astype(np.int64) * (4096 - d)
    return (np.sign(y) * np.right_shift(np.abs(y), 12)).astype(np.int32)


# ---- continuous-time neurons (NIR's neuron models) ----
#
# NIR defines its neurons as ODEs; these ops keep NIR's own parameters (per-neuron arrays in the
# weight store, named by the op's parameters, broadcast against the per-step shape) and state the
# time step `dt` (seconds) they are discretised with, which is also the module's `dt` attribute.
# Discretisation, per step t, in float32 (forward Euler, as snnTorch, Norse and Lava-dl's NIR
# importers do):
#   input       I[t] = x[t] + W_rec y[t-1] + b_rec    (recurrent ops only; y[-1] = 0)
#   integrate   v <- v + dt * r * I[t]                                   (neuron.if, neuron.integrator)
#   leak        v <- v + (dt / tau) * ((v_leak - v) + r * I[t])          (neuron.lif_ct, neuron.li)
#   synapse     i <- i + (dt / tau_syn) * (w_in * S[t] - i), then the leak step with I = the new i
#                                                                         (neuron.cuba_lif, neuron.cuba_li)
#   fire        z[t] = v > v_threshold (strictly, as NIR's Heaviside), then v <- v_reset where z
#               (reset = "value", NIR >= 1.0.6) or v <- v - v_threshold (reset = "subtract", the
#               spec of NIR files before v_reset existed)
# Spiking ops return unit spikes (i8); neuron.li, neuron.cuba_li and neuron.integrator return the
# voltage v (f32). Inputs may be tensors or spikes (spikes count as their decoded value).
# `rec_weight` (and `rec_bias`) name a projection of the op's own output back onto its input: a
# NIR cycle neuron -> Linear/Affine -> neuron, cut by one step of delay (docs/ir.md, "NIR").


def _as_float(x: Any) -> np.ndarray:
    return (x.decode() if isinstance(x, SpikeArray) else np.asarray(x)).astype(np.float32)


def _per_neuron(ctx: EvalContext, name: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.asarray(ctx.weight(name), np.float32), shape)


def _recurrent_projection(p: Any, ctx: EvalContext) -> Any:
    """y -> W_rec y + b_rec in float32 (NIR's Linear/Affine on the fed-back output), or None."""
    if p.rec_weight is None:
        return None
    w = np.asarray(ctx.weight(p.rec_weight), np.float32)
    b = None if p.rec_bias is None else np.asarray(ctx.weight(p.rec_bias), np.float32)
    return lambda y: w @ y if b is None else w @ y + b


class _ContinuousNeuron(OpDef):
    """Shared type rule and stepping of the continuous-time neurons."""

    operands = ("current",)
    arrays: ClassVar[tuple[str, ...]] = ()  # parameter fields naming per-neuron arrays
    spiking: ClassVar[bool] = True

    @classmethod
    def weight_fields(cls) -> tuple[str, ...]:
        return (*cls.arrays, "rec_weight", "rec_bias")

    def result_types(self, p: Any, ts: list[Type]) -> list[Type]:
        expect(ts[0].kind in ("tensor", "spikes"), f"current must be a tensor or spikes, got {ts[0]}")
        expect(ts[0].kind == "spikes" or is_float(ts[0].dtype), f"current must be floating point, got {ts[0]}")
        expect(ts[0].rank >= 1, f"current needs a leading time dim, got {ts[0]}")
        expect(p.dt > 0, f"dt must be positive, got {p.dt}")
        if self.spiking:
            expect(p.reset == "subtract" or p.v_reset is not None, "reset = value needs v_reset")
        expect(p.rec_weight is not None or p.rec_bias is None, "rec_bias needs rec_weight")
        expect(p.rec_weight is None or ts[0].rank == 2,
               f"a recurrent population needs one neuron dim after time, got {ts[0]}")
        return [spikes(ts[0].shape, "i8") if self.spiking else tensor(ts[0].shape, "f32")]

    def weight_shapes(self, p: Any, ts: list[Type]) -> dict[str, tuple[int | str, ...]]:
        if p.rec_weight is None:
            return {}
        n = ts[0].shape[-1]
        return {"rec_weight": (n, n), **({"rec_bias": (n,)} if p.rec_bias is not None else {})}

    def evaluate(self, p: Any, args: list[Any], ctx: EvalContext) -> list[Any]:
        x = _as_float(args[0])
        step_shape = x.shape[1:]
        w = {f: _per_neuron(ctx, getattr(p, f), step_shape) for f in self.arrays if getattr(p, f) is not None}
        w["reset"] = getattr(p, "reset", "value")
        st = ctx.state()
        for key in self.state_keys:
            st.setdefault(key, np.zeros(step_shape, np.float32))
        rec = _recurrent_projection(p, ctx)
        if rec is not None:
            st.setdefault("y", np.zeros(step_shape, np.float32))
        out = np.zeros(x.shape, np.int8 if self.spiking else np.float32)
        dt = np.float32(p.dt)
        for t in range(x.shape[0]):
            i = x[t] if rec is None else x[t] + rec(st["y"])
            out[t] = self.step(st, w, i, dt)
            if rec is not None:
                st["y"] = out[t].astype(np.float32)
        return [SpikeArray(out) if self.spiking else out]

    state_keys: ClassVar[tuple[str, ...]] = ("v",)

    def step(self, st: dict, w: dict, i: np.ndarray, dt: np.float32) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def fire(st: dict, w: dict) -> np.ndarray:
        z = st["v"] > w["v_threshold"]
        after = st["v"] - w["v_threshold"] if w["reset"] == "subtract" else w["v_reset"]
        st["v"] = np.where(z, after, st["v"]).astype(np.float32)
        return z


class IFParams(Params):
    r: str
    v_threshold: str
    v_reset: str | None = None
    dt: float
    reset: Literal["value", "subtract"] = "value"
    rec_weight: str | None = None
    rec_bias: str | None = None


@register
class IF(_ContinuousNeuron):
    """Integrate-and-fire (NIR IF): v' = r I; spike where v > v_threshold, then v = v_reset."""

    name = "neuron.if"
    params = IFParams
    arrays = ("r", "v_threshold", "v_reset")

    def step(self, st: dict, w: dict, i: np.ndarray, dt: np.float32) -> np.ndarray:
        st["v"] = st["v"] + dt * w["r"] * i
        return self.fire(st, w)


class LIFCTParams(Params):
    tau: str
    r: str
    v_leak: str
    v_threshold: str
    v_reset: str | None = None
    dt: float
    reset: Literal["value", "subtract"] = "value"
    rec_weight: str | None = None
    rec_bias: str | None = None


@register
class LIFContinuous(_ContinuousNeuron):
    """Leaky integrate-and-fire in continuous time (NIR LIF): tau v' = (v_leak - v) + r I."""

    name = "neuron.lif_ct"
    params = LIFCTParams
    arrays = ("tau", "r", "v_leak", "v_threshold", "v_reset")

    def step(self, st: dict, w: dict, i: np.ndarray, dt: np.float32) -> np.ndarray:
        st["v"] = st["v"] + (dt / w["tau"]) * ((w["v_leak"] - st["v"]) + w["r"] * i)
        return self.fire(st, w)


class CubaLIFParams(Params):
    tau_syn: str
    tau_mem: str
    r: str
    v_leak: str
    v_threshold: str
    v_reset: str | None = None
    w_in: str
    dt: float
    reset: Literal["value", "subtract"] = "value"
    rec_weight: str | None = None
    rec_bias: str | None = None


@register
class CubaLIF(_ContinuousNeuron):
    """Current-based LIF (NIR CubaLIF): tau_syn i' = w_in S - i, tau_mem v' = (v_leak - v) + r i."""

    name = "neuron.cuba_lif"
    params = CubaLIFParams
    arrays = ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in")
    state_keys = ("i", "v")

    def step(self, st: dict, w: dict, s: np.ndarray, dt: np.float32) -> np.ndarray:
        st["i"] = st["i"] + (dt / w["tau_syn"]) * (w["w_in"] * s - st["i"])
        st["v"] = st["v"] + (dt / w["tau_mem"]) * ((w["v_leak"] - st["v"]) + w["r"] * st["i"])
        return self.fire(st, w)


class CubaLIParams(Params):
    tau_syn: str
    tau_mem: str
    r: str
    v_leak: str
    w_in: str
    dt: float
    rec_weight: str | None = None
    rec_bias: str | None = None


@register
class CubaLI(_ContinuousNeuron):
    """Current-based leaky integrator (NIR CubaLI): as neuron.cuba_lif without firing; returns v."""

    name = "neuron.cuba_li"
    params = CubaLIParams
    arrays = ("tau_syn", "tau_mem", "r", "v_leak", "w_in")
    state_keys = ("i", "v")
    spiking = False

    def step(self, st: dict, w: dict, s: np.ndarray, dt: np.float32) -> np.ndarray:
        st["i"] = st["i"] + (dt / w["tau_syn"]) * (w["w_in"] * s - st["i"])
        st["v"] = st["v"] + (dt / w["tau_mem"]) * ((w["v_leak"] - st["v"]) + w["r"] * st["i"])
        return st["v"]


class LIParams(Params):
    tau: str
    r: str
    v_leak: str
    dt: float
    rec_weight: str | None = None
    rec_bias: str | None = None


@register
class LI(_ContinuousNeuron):
    """Leaky integrator (NIR LI): tau v' = (v_leak - v) + r I; returns v."""

    name = "neuron.li"
    params = LIParams
    arrays = ("tau", "r", "v_leak")
    spiking = False

    def step(self, st: dict, w: dict, i: np.ndarray, dt: np.float32) -> np.ndarray:
        st["v"] = st["v"] + (dt / w["tau"]) * ((w["v_leak"] - st["v"]) + w["r"] * i)
        return st["v"]


class IntegratorParams(Params):
    r: str
    dt: float
    rec_weight: str | None = None
    rec_bias: str | None = None


@register
class Integrator(_ContinuousNeuron):
    """Integrator (NIR I): v' = r I; returns v."""

    name = "neuron.integrator"
    params = IntegratorParams
    arrays = ("r",)
    spiking = False

    def step(self, st: dict, w: dict, i: np.ndarray, dt: np.float32) -> np.ndarray:
        st["v"] = st["v"] + dt * w["r"] * i
        return st["v"]


class ThresholdParams(Params):
    threshold: str


@register
class Threshold(OpDef):
    """Heaviside (NIR Threshold): a unit spike where x > threshold, per step; no state."""

    name = "neuron.threshold"
    params = ThresholdParams
    operands = ("x",)

    @classmethod
    def weight_fields(cls) -> tuple[str, ...]:
        return ("threshold",)

    def result_types(self, p: ThresholdParams, ts: list[Type]) -> list[Type]:
        expect(ts[0].kind in ("tensor", "spikes"), f"x must be a tensor or spikes, got {ts[0]}")
        expect(ts[0].rank >= 1, f"x needs a leading time dim, got {ts[0]}")
        return [spikes(ts[0].shape, "i8")]

    def evaluate(self, p: ThresholdParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        x = _as_float(args[0])
        return [SpikeArray((x > _per_neuron(ctx, p.threshold, x.shape[1:])).astype(np.int8))]


# ---- sigma-delta neurons (lava-dl's SDNN, as Lava's fixed-point Sigma, Delta, SigmaDelta) ----


class SigmaDeltaParams(Params):
    mode: Literal["sigma_delta", "delta", "sigma"] = "sigma_delta"
    vth: int = 0
    bias: str | None = None
    spike_exp: int = 6
    state_exp: int = 6


@register
class SigmaDelta(OpDef):
    """Sigma-delta neurons in Lava's fixed point (lava.proc.sdn, `fixed_pt`), what lava-dl's netx
    builds for SDNN layers. Per step, on the integer input a = floor(I) and q = spike_exp + state_exp:
    `sigma_delta`: sigma += a; act = relu(sigma + (bias << q)); d = act - act_prev + residue;
    `delta` (an input layer): act = a << q; d = act - act_prev + residue; then both send
    s = d where |d| >= vth << q (else 0), keep residue = d - s, and output s >> state_exp as graded
    spikes (i32). `sigma` (an output layer): sigma += a, output sigma (i32). `bias` names
    per-neuron mantissas."""

    name = "neuron.sigma_delta"
    params = SigmaDeltaParams
    operands = ("current",)

    @classmethod
    def weight_fields(cls) -> tuple[str, ...]:
        return ("bias",)

    def result_types(self, p: SigmaDeltaParams, ts: list[Type]) -> list[Type]:
        expect(ts[0].kind in ("tensor", "spikes"), f"current must be a tensor or spikes, got {ts[0]}")
        expect(ts[0].rank >= 1, f"current needs a leading time dim, got {ts[0]}")
        expect(p.vth >= 0 and 0 <= p.spike_exp <= 7 and 0 <= p.state_exp <= 7,
               f"vth >= 0, spike_exp and state_exp in 0..7, got {p.vth}, {p.spike_exp}, {p.state_exp}")
        expect(p.mode == "sigma_delta" or p.bias is None, "only a sigma_delta neuron has a bias")
        return [tensor(ts[0].shape, "i32") if p.mode == "sigma" else spikes(ts[0].shape, "i32")]

    def weight_shapes(self, p: SigmaDeltaParams, ts: list[Type]) -> dict[str, tuple[int | str, ...]]:
        return {} if p.bias is None else {"bias": tuple(ts[0].shape[1:])}

    def evaluate(self, p: SigmaDeltaParams, args: list[Any], ctx: EvalContext) -> list[Any]:
        x = integer_current(_as_float(args[0])).astype(np.int64)
        q = p.spike_exp + p.state_exp
        st = ctx.state()
        zeros = np.zeros(x.shape[1:], np.int64)
        sigma, act, residue = st.get("sigma", zeros), st.get("act", zeros), st.get("residue", zeros)
        bias = 0 if p.bias is None else np.asarray(ctx.weight(p.bias), np.int64) << q
        out = np.zeros(x.shape, np.int32)
        for t in range(x.shape[0]):
            if p.mode != "delta":
                sigma = sigma + x[t]
            if p.mode == "sigma":
                out[t] = sigma
                continue
            new = x[t] << q if p.mode == "delta" else np.maximum(sigma + bias, 0)
            d = new - act + residue
            s = np.where(np.abs(d) >= (p.vth << q), d, 0)
            residue, act = d - s, new
            out[t] = np.right_shift(s, p.state_exp)
        st["sigma"], st["act"], st["residue"] = sigma, act, residue
        return [out if p.mode == "sigma" else SpikeArray(out)]
