"""fixed-norms and fixed-encoders: the integer RMSNorm and encoder agree with the float ones,
round and clip as documented, take their fraction bits from calibration (an encoder those of the
norm feeding it), and cost the tiny model no measurable quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sbcompile.frontend import load
from sbcompile.ir import verify
from sbcompile.ir.dialects.nn import RMSNormParams, fixed_rmsnorm, norm_weight_codes
from sbcompile.ir.dialects.spike import EncodeParams, adaptive_threshold, fixed_encode
from sbcompile.ir.fixed import fixed_input, isqrt
from sbcompile.ir.interpreter import Interpreter
from sbcompile.passes import PassContext, parse_pipeline
from sbcompile.passes.evaluate import bits_per_token

TINY = Path(__file__).parents[2] / "examples" / "tiny"


def test_integer_encoder_agrees_with_the_float_one() -> None:
    x = np.random.default_rng(0).standard_normal((64, 128)).astype(np.float32)
    counts, vth = fixed_encode(fixed_input(x, 12), EncodeParams(k=3.0, frac_bits=12))
    vth_float = adaptive_threshold(x, EncodeParams(k=3.0))
    assert np.abs(vth / 4096 / vth_float - 1).max() < 1e-3
    assert (counts == np.rint(x / vth_float)).mean() > 0.999


def test_rounding_half_to_even_and_the_threshold_bounds() -> None:
    xq = np.array([[3, -3, 1, 1]])  # sum |x| = 8, n k = 4: V = 2; 1.5 -> 2, -1.5 -> -2, 0.5 -> 0
    counts, vth = fixed_encode(xq, EncodeParams(k=1.0, frac_bits=0))
    assert vth.tolist() == [[2]] and counts.tolist() == [[2, -2, 0, 0]]
    _, vth = fixed_encode(np.zeros((1, 4), np.int64), EncodeParams(k=1.0, frac_bits=4, vth_min=0.5))
    assert vth.tolist() == [[8]]  # a silent token keeps the smallest threshold, 0.5 x 2^4
    assert fixed_input(np.array([1e9, -1e9]), 0).tolist() == [2 ** 23 - 1, -(2 ** 23 - 1)]


def test_integer_rmsnorm_agrees_with_the_float_one() -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((8, 128)) * 5).astype(np.float32)
    w = (1 + 0.3 * rng.standard_normal(32)).astype(np.float32)
    y = fixed_rmsnorm(fixed_input(x, 14), norm_weight_codes(w), RMSNormParams(frac_bits=14, group=32)) * 2.0 ** -14
    xs = x.reshape(8, 4, 32)
    ref = (xs / np.sqrt((xs * xs).mean(-1, keepdims=True) + 1e-6) * w).reshape(8, 128)
    assert np.abs(y - ref).max() < 1e-3 * np.abs(ref).max()


def test_integer_square_root_is_exact() -> None:
    m = np.array([0, 1, 2, 3, 4, 15, 16, 17, 2 ** 46 - 1, 2 ** 46, (2 ** 23 - 1) ** 2, (2 ** 23 - 1) ** 2 - 1])
    r = isqrt(m)
    assert np.all(r * r <= m) and np.all((r + 1) * (r + 1) > m)


def test_fraction_bits_from_calibration_and_quality() -> None:
    calib, evaluate = TINY / "calib.txt", TINY / "eval.txt"
    m, ctx = load(str(TINY)), PassContext()
    for p in parse_pipeline(f"cse,dce,calibrate{{text={calib},tokens=1024}},fixed-norms,fixed-encoders"):
        p.run(m, ctx)
    verify(m)
    encoders = [op for op in m.ops if op.name == "spike.encode"]
    chosen = ctx.report["fixed_encoders"]["frac_bits"]
    assert sorted(chosen) == sorted(op.result.name for op in encoders)
    for op in encoders:
        src = op.operands[0].owner
        if src.name == "nn.rmsnorm":  # the norm's integers pass straight through
            assert op.params.frac_bits == src.params.frac_bits
            src = src.operands[0].owner if src.operands[0].owner.attrs["calib.absmax"] > src.attrs["calib.absmax"] else src
        assert 2 ** 21 <= src.attrs["calib.absmax"] * 2 ** op.params.frac_bits <= 2 ** 22
    assert sorted(ctx.report["fixed_norms"]["frac_bits"]) == sorted(op.result.name for op in m.ops if op.name == "nn.rmsnorm")
    tokens = np.frombuffer(evaluate.read_bytes()[:2048], np.uint8).astype(np.int32)
    float_bpb, fixed_bpb = (bits_per_token(Interpreter(mod, record_activity=False)(input_ids=tokens)[0], tokens)
                            for mod in (load(str(TINY)), m))
    assert abs(fixed_bpb / float_bpb - 1) < 2e-3
