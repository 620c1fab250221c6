"""quantize: integer codes and scales in the target's formats, overflow policies, and the integer
path of syn.dense equal to a float64 model of the same fixed-point formulas, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from sbcompile.formats import NumberFormats
from sbcompile.ir import Builder, Module, parse, print_module, spikes, verify
from sbcompile.ir.interpreter import Interpreter
from sbcompile.passes import PassContext, parse_pipeline
from tests.targets.handmade import tiny_lm


class Machine:
    def __init__(self, formats: NumberFormats) -> None:
        self.formats = formats


def compile_(m: Module, pipeline: str, formats: NumberFormats | None = None) -> PassContext:
    ctx = PassContext(machine=Machine(formats) if formats else None)
    for p in parse_pipeline(pipeline):
        p.run(m, ctx)
    verify(m)
    return ctx


def one_dense(w: np.ndarray) -> Module:
    m = Module("dense")
    m.weights.add("w", w.astype(np.float32))
    b = Builder(m)
    s = b.input("s", spikes(["seq", w.shape[1]]))
    b.output(b.op("syn.dense", [s], weight="w", out_features=w.shape[0]))
    return m


def float64_model(counts: np.ndarray, vth: np.ndarray, codes: np.ndarray, scales: np.ndarray, group: int) -> np.ndarray:
    """The documented formulas, integers in float64 (exact), each float step rounded to float32."""
    f32 = np.float32
    y = np.zeros((counts.shape[0], codes.shape[0]), np.float64)
    for j in range(scales.shape[1]):
        acc = np.zeros_like(y)
        for i in range(j * group, min((j + 1) * group, codes.shape[1])):  # a plain loop: no shared code
            acc += counts[:, i:i + 1].astype(np.float64) * codes[:, i].astype(np.float64)
        y = f32(f32(y) + f32(f32(acc) * f32(scales[:, j])))
    return f32(f32(y) * f32(vth))


@pytest.mark.parametrize("group", [0, 4])
@pytest.mark.parametrize("scale_format", ["float", "pow2"])
def test_integer_path_equals_float64_model(group: int, scale_format: str) -> None:
    from sbcompile.ir.runtime import SpikeArray

    rng = np.random.default_rng(0)
    m = one_dense(rng.standard_normal((6, 10)))
    compile_(m, f"quantize{{group={group}}}", NumberFormats(weight_scale=scale_format))
    op = m.ops[-1]
    codes, scales = m.weights.get(op.params.weight), m.weights.get(op.params.scale)
    assert codes.dtype == np.int8 and np.abs(codes).max() <= 127
    if scale_format == "pow2":
        assert np.all(np.log2(scales) == np.round(np.log2(scales)))
    counts = rng.integers(-9, 10, (5, 10)).astype(np.int32)
    vth = rng.uniform(0.01, 1, (5, 1)).astype(np.float32)
    (y,) = Interpreter(m)(s=SpikeArray(counts, vth))
    np.testing.assert_array_equal(y, float64_model(counts, vth, codes, scales, group or 10))


def test_overflow_policies() -> None:
    w = np.ones((2, 64))
    w[0, 3] = 50.0  # one outlier beyond the 99th percentile
    clamp, resid = one_dense(w), one_dense(w)
    c1 = compile_(clamp, "quantize{scale-method=percentile,percentile=90}")
    c2 = compile_(resid, "quantize{scale-method=percentile,percentile=90,overflow=residual}")
    assert c1.report["quantize"]["ops"]["dense"]["overflow"] == 1
    assert clamp.ops[-1].attrs["quant.overflow"] == 1 and clamp.ops[-1].params.residual is None
    entries = resid.weights.get(resid.ops[-1].params.residual)
    assert entries.shape == (1, 3) and tuple(entries[0, :2]) == (0, 3)
    assert c2.report["quantize"]["ops"]["dense"]["rel_error"] < c1.report["quantize"]["ops"]["dense"]["rel_error"]
    from sbcompile.ir.runtime import SpikeArray

    x = SpikeArray(np.eye(64, dtype=np.int32)[:4], None)
    (y,) = Interpreter(resid)(s=x)
    np.testing.assert_allclose(y, w[:, :4].T, rtol=1e-6)


def test_quantized_model_round_trips_and_is_deterministic() -> None:
    a, b = tiny_lm(), tiny_lm()
    compile_(a, "cse,quantize{group=8}")
    compile_(b, "cse,quantize{group=8}")
    text = print_module(a)
    assert text == print_module(b) and "quant.rel_error" in text
    assert parse(text) == a
    tokens = np.arange(30, dtype=np.int32)
    y_float = Interpreter(tiny_lm())(tokens=tokens)[0]
    y_int = Interpreter(a)(tokens=tokens)[0]
    assert np.abs(y_int - y_float).max() < 0.05 * np.abs(y_float).max()


def test_bad_bits() -> None:
    from sbcompile.ir import SbirError

    with pytest.raises(SbirError, match=r"weight-bits must lie in \[2, 16\], got 20"):
        compile_(tiny_lm(), "quantize{weight-bits=20}")


def test_target_formats_decide_the_scales() -> None:
    from sbcompile.targets.cuda.machine import CUDA_FORMATS
    from sbcompile.targets.loihi2.machine import LOIHI2_FORMATS

    rng = np.random.default_rng(5)
    w = rng.standard_normal((4, 16))
    cuda, loihi = one_dense(w), one_dense(w)
    compile_(cuda, "quantize", CUDA_FORMATS)
    ctx = compile_(loihi, "quantize", LOIHI2_FORMATS)
    assert cuda.weights.get(cuda.ops[-1].params.scale).shape == (4, 1)  # one float32 scale per output channel
    exps = np.log2(loihi.weights.get(loihi.ops[-1].params.scale))
    assert np.all(exps == np.round(exps)) and np.all((-7 <= exps) & (exps <= 7))
    facts = ctx.report["quantize"]["ops"]["dense"]
    assert facts["exp_min"] == exps.min() and facts["exp_max"] == exps.max()
    assert loihi.ops[-1].attrs["quant.exp_max"] == facts["exp_max"]
