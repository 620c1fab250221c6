"""lava-dl netx HDF5 (`NET.net`, what SLAYER blocks' `export_hdf5` write and lava-dl's
`netx.hdf5.Network` loads) -> sbir.

The file is Loihi-native: `/layer/<i>/` groups in order, each with `type` (input, dense, conv,
flatten), `shape` (the layer's neurons, (C, H, W) or (N,)), integer `weight` ((out, in) or
(out, in, kH, kW, 1)), optional per-neuron `bias`, conv geometry (`stride`, `padding`,
`dilation` as (H, W), `groups`), and `neuron/` with `type` CUBA (or LOIHI) and the compartment's
fixed-point fields: `iDecay` (current decay, du = iDecay - 1), `vDecay` (dv), `vThMant` (the
threshold mantissa, shifted by 6), `refDelay`. netx builds each layer as Lava's Dense/Conv (its
optimize_weight_bits shifts the weights and sets the matching weight exponent, so the current is
`W x` exactly) and a fixed-point `LIF` with bias_exp = 6. That is sbir's `syn.dense`/`syn.conv2d`
on the integer weights and `neuron.loihi_lif`, bit for bit. Sigma-delta layers (`neuron/type` SDNN, what SLAYER's sigma_delta blocks write) become
`neuron.sigma_delta` as netx builds them: an input layer Lava's Delta, a layer with
`sigma_output` Lava's Sigma, any other SigmaDelta (ReLU, per-neuron or per-channel bias), with
vth = vThMant and spike_exp = state_exp = 6. A `flatten` layer (or a dense layer after a conv)
flattens (C, H, W) in that order, as netx's transpose to (C, H, W) and flatten do. Without an
`input` layer the input is the first layer's input (its size from the weights; a conv's height
and width from its output with stride 1 and its padding), integers (SDNN: graded, in units of
2^spike_exp).

Not imported (all named in one error): resonate-and-fire neurons, graded CUBA spikes, recurrent
dense layers (`dense_rec`), synaptic delays, CUBA per-neuron biases that differ (sbir's
compartment has one bias), pooling, transposed convolution, concatenation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from sbcompile.ir import Builder, Module, SbirError, Type, Value
from sbcompile.ir.dialects.layers import Conv2d, Flatten
from sbcompile.ir.dialects.neuron import LoihiLIF, SigmaDelta
from sbcompile.ir.dialects.syn import Dense

LAYER_TYPES = ("input", "dense", "conv", "flatten")
NEURON_TYPES = ("CUBA", "LOIHI", "SDNN")


def _text(ds: Any) -> str:
    v = ds[()]
    if isinstance(v, np.ndarray):
        v = v.reshape(-1)[0]
    return v.decode("ascii") if isinstance(v, bytes) else str(v)


def _read(group: Any) -> dict[str, Any]:
    """A layer group as plain values (nested groups as dicts)."""
    out: dict[str, Any] = {}
    for k, item in group.items():
        if hasattr(item, "items"):
            out[k] = _read(item)
        elif k == "type":
            out[k] = _text(item)
        else:
            out[k] = item[()]
    return out


def read_layers(path: Path) -> list[dict[str, Any]]:
    import h5py

    if not path.is_file():
        raise SbirError(f"{path}: no such file")
    try:
        with h5py.File(str(path), "r") as f:
            if "layer" not in f:
                raise SbirError(f"{path}: not a netx network (no /layer group; lava-dl's export writes one)")
            groups = f["layer"]
            keys = sorted(groups, key=lambda k: int(k) if k.isdigit() else -1)
            if any(not k.isdigit() for k in keys):
                raise SbirError(f"{path}: /layer holds {', '.join(k for k in keys if not k.isdigit())}; netx numbers its layers 0, 1, ...")
            return [_read(groups[k]) for k in keys]
    except OSError as e:
        raise SbirError(f"{path}: not a readable netx HDF5 file ({e})") from None


def _ints(v: Any, n: int = 2) -> tuple[int, ...]:
    a = np.asarray(v).reshape(-1)
    return tuple(int(x) for x in (np.repeat(a, n) if a.size == 1 else a))


def _why_not(i: int, layer: dict[str, Any]) -> str | None:
    kind = layer.get("type")
    if kind not in LAYER_TYPES:
        return f"layer {i} ({kind}): no sbir form (netx itself builds only input, dense, conv, flatten)" \
            if kind in ("pool", "convT", "unpool", "average", "concat") else f"layer {i} ({kind}): not a layer type sbcompile imports"
    if "delay" in layer:
        return f"layer {i} ({kind}): synaptic delays are not imported"
    if "weight" in layer and isinstance(layer["weight"], dict):
        return f"layer {i} ({kind}): complex weights (resonate-and-fire) are not imported"
    neuron = layer.get("neuron")
    if neuron is None:
        return None
    ntype = neuron.get("type")
    if ntype not in NEURON_TYPES:
        return f"layer {i} ({kind}): neuron type {ntype} (sbcompile imports CUBA/LOIHI compartments and SDNN)"
    if ntype == "SDNN":
        return None
    if bool(np.asarray(neuron.get("gradedSpike", False)).reshape(-1)[0]) or int(np.asarray(neuron.get("messageBits", 0)).reshape(-1)[0]):
        return f"layer {i} ({kind}): graded spikes are not imported"
    bias = layer.get("bias")
    if bias is not None and np.asarray(bias).size and not np.all(np.asarray(bias) == np.asarray(bias).reshape(-1)[0]):
        return f"layer {i} ({kind}): per-neuron biases that differ (sbir's compartment holds one bias)"
    return None


def load_netx(path: str | Path) -> Module:
    """A netx file as an (unverified) module: input spikes [seq, *shape] -> the last layer's spikes."""
    path = Path(path)
    layers = read_layers(path)
    problems = [why for i, layer in enumerate(layers) if (why := _why_not(i, layer))]
    if "dense_rec" in {layer.get("type") for layer in layers}:
        problems.append("recurrent dense layers (dense_rec) are not imported")
    if not any(layer.get("type") in ("dense", "conv") for layer in layers):
        problems.append("no dense or conv layer")
    if problems:
        raise SbirError(f"{path}: cannot import {len(problems)} netx layer(s): " + "; ".join(problems))
    module = Module(re.sub(r"[^A-Za-z0-9_]", "_", path.stem) or "netx", {"netx": path.name})
    b = Builder(module)
    x: Value | None = None
    flatten_next = False
    for i, layer in enumerate(layers):
        kind = layer["type"]
        try:
            if x is None:
                x = b.input("input", Type("tensor", ("seq", *_input_shape(layer)), "f32"), result="input")
            if kind == "input":
                if "neuron" in layer:
                    x = _neuron(b, module, i, layer, x)
                continue
            if kind == "flatten":
                flatten_next = True
                continue
            if kind == "dense" and (flatten_next or x.type.rank > 2):
                x = b.op(Flatten, [x], result=f"flat{i}", attrs={"netx.layer": i})
            flatten_next = False
            x = _synapse(b, module, i, kind, layer, x)
            if "neuron" in layer:
                x = _neuron(b, module, i, layer, x)
        except SbirError as e:
            raise SbirError(f"{path}: layer {i} ({kind}): {e.message}") from None
    b.output(x)
    return module


def _input_shape(layer: dict[str, Any]) -> tuple[int, ...]:
    """The network's input shape, from its first layer."""
    kind = layer["type"]
    if kind == "input" and "shape" in layer:
        return tuple(int(d) for d in np.asarray(layer["shape"]).reshape(-1))
    w = np.asarray(layer.get("weight"))
    if kind == "dense":
        return (int(w.reshape(w.shape[0], -1).shape[1]),)
    if kind == "conv":
        c, h, wd = (int(d) for d in np.asarray(layer["shape"]).reshape(-1))
        k = w.shape[2:4]
        (sh, sw), (ph, pw), (dh, dw) = (_ints(layer.get(f, d)) for f, d in (("stride", 1), ("padding", 0), ("dilation", 1)))
        return (int(w.shape[1]) * int(layer.get("groups", 1)), (h - 1) * sh - 2 * ph + dh * (k[0] - 1) + 1,
                (wd - 1) * sw - 2 * pw + dw * (k[1] - 1) + 1)
    raise SbirError(f"the first layer ({kind}) does not say the input's shape")


def _synapse(b: Builder, m: Module, i: int, kind: str, layer: dict[str, Any], x: Value) -> Value:
    w = np.asarray(layer["weight"])
    key = f"layer{i}.weight"
    attrs = {"netx.layer": i}
    if kind == "dense":
        w = w.reshape(w.shape[0], -1).astype(np.float32)
        m.weights.add(key, w)
        return b.op(Dense, [x], weight=key, out_features=int(w.shape[0]), result=f"dense{i}", attrs=attrs)
    w = w.reshape(w.shape[:4]).astype(np.float32)
    m.weights.add(key, w)
    stride, padding, dilation = (_ints(layer.get(f, d)) for f, d in (("stride", 1), ("padding", 0), ("dilation", 1)))
    return b.op(Conv2d, [x], weight=key, out_channels=int(w.shape[0]), kernel=tuple(int(k) for k in w.shape[2:]),
                stride=stride, padding=padding, dilation=dilation, groups=int(layer.get("groups", 1)),
                result=f"conv{i}", attrs=attrs)


def _scalar(v: Any) -> int:
    return int(np.asarray(v).reshape(-1)[0])


def _neuron(b: Builder, m: Module, i: int, layer: dict[str, Any], x: Value) -> Value:
    """netx's CUBA compartment: Lava's LIF with du = iDecay - 1, dv = vDecay, vth = vThMant,
    bias_mant = the layer's bias, bias_exp = 6. SDNN: Lava's Delta (an input layer), Sigma (a
    layer with `sigma_output`) or SigmaDelta with vth = vThMant and per-neuron biases, spike_exp =
    state_exp = 6 (netx's defaults)."""
    n = layer["neuron"]
    bias = layer.get("bias")
    shape = tuple(int(d) for d in np.asarray(layer.get("shape", x.type.shape[1:])).reshape(-1))
    if tuple(x.type.shape[1:]) != shape:
        raise SbirError(f"its shape {list(shape)} differs from its input's {list(x.type.shape[1:])}")
    if n["type"] == "SDNN":
        return _sigma_delta(b, m, i, layer, x, shape)
    bias_mant = _scalar(bias) if bias is not None and np.asarray(bias).size else 0
    return b.op(LoihiLIF, [x], du=_scalar(n["iDecay"]) - 1, dv=_scalar(n["vDecay"]), vth=_scalar(n["vThMant"]),
                bias_mant=bias_mant, bias_exp=6 if bias_mant else 0, result=f"lif{i}", attrs={"netx.layer": i})


def _sigma_delta(b: Builder, m: Module, i: int, layer: dict[str, Any], x: Value, shape: tuple[int, ...]) -> Value:
    n = layer["neuron"]
    attrs = {"netx.layer": i}
    if layer["type"] == "input":
        return b.op(SigmaDelta, [x], mode="delta", vth=_scalar(n["vThMant"]), result=f"delta{i}", attrs=attrs)
    if "sigma_output" in n:
        return b.op(SigmaDelta, [x], mode="sigma", result=f"sigma{i}", attrs=attrs)
    bias = None
    if layer.get("bias") is not None and np.asarray(layer["bias"]).size:
        a = np.asarray(layer["bias"]).reshape(-1)
        # netx: one value per neuron, or per channel (the first of (C, H, W))
        full = a.reshape(shape) if a.size == int(np.prod(shape)) else np.broadcast_to(
            a.reshape(-1, *[1] * (len(shape) - 1)), shape)
        bias = f"layer{i}.bias"
        m.weights.add(bias, np.ascontiguousarray(full).astype(np.int32))  # netx truncates as astype does
    return b.op(SigmaDelta, [x], vth=_scalar(n["vThMant"]), bias=bias, result=f"sd{i}", attrs=attrs)
