"""fixed-encoders: integer encoders agree with the float ones, round and clip as documented,
take their fraction bits from calibration, and cost the tiny model no measurable quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sbcompile.frontend import load
from sbcompile.ir import verify
from sbcompile.ir.dialects.spike import EncodeParams, adaptive_threshold, fixed_encode, fixed_input
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


def test_fraction_bits_from_calibration_and_quality() -> None:
    calib, evaluate = TINY / "calib.txt", TINY / "eval.txt"
    m, ctx = load(str(TINY)), PassContext()
    for p in parse_pipeline(f"cse,dce,calibrate{{text={calib},tokens=1024}},fixed-encoders"):
        p.run(m, ctx)
    verify(m)
    encoders = [op for op in m.ops if op.name == "spike.encode"]
    chosen = ctx.report["fixed_encoders"]["frac_bits"]
    assert sorted(chosen) == sorted(op.result.name for op in encoders)
    for op in encoders:
        absmax = op.operands[0].owner.attrs["calib.absmax"]
        assert 2 ** 21 <= absmax * 2 ** op.params.frac_bits <= 2 ** 22
    tokens = np.frombuffer(evaluate.read_bytes()[:2048], np.uint8).astype(np.int32)
    float_bpb, fixed_bpb = (bits_per_token(Interpreter(mod, record_activity=False)(input_ids=tokens)[0], tokens)
                            for mod in (load(str(TINY)), m))
    assert abs(fixed_bpb / float_bpb - 1) < 2e-3
