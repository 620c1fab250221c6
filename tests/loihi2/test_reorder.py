"""reorder-channels: rare channels grouped into blocks that tokens skip, results unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from sbcompile.ir import Builder, Module, tensor
from sbcompile.ir.interpreter import Interpreter
from sbcompile.passes import PassContext, parse_pipeline
from sbcompile.passes.reorder_channels import fetch_share


def test_fetch_share() -> None:
    assert fetch_share(np.array([0.5, 0.0, 0.5, 0.0]), np.arange(4), 2).tolist() == [0.5, 0.5]
    assert fetch_share(np.array([0.5, 0.0, 0.5, 0.0]), np.array([0, 2, 1, 3]), 2).tolist() == [0.75, 0.0]


def test_alternating_silent_channels_become_skippable_blocks() -> None:
    m = Module("r")
    rng = np.random.default_rng(0)
    m.weights.add("w", rng.standard_normal((4, 16)).astype(np.float32))
    b = Builder(m)
    x = b.input("x", tensor(["seq", 16]))
    s = b.op("spike.encode", [x])
    b.output(b.op("syn.dense", [s], weight="w", out_features=4))
    m.ops[1].attrs["calib.active"] = tuple([0.9, 0.0] * 8)  # every other channel never fires
    x = rng.standard_normal((5, 16)).astype(np.float32)
    before = Interpreter(m)(x=x)[0]
    ctx = PassContext()
    for p in parse_pipeline("reorder-channels{block=4}"):
        p.run(m, ctx)
    r = ctx.report["reorder_channels"]
    assert r["blocks"] == 4 and r["skipped_before"] == pytest.approx(4 * 0.1 ** 2)  # a block skips if both its live channels rest
    assert r["skipped_after"] == pytest.approx(2 + 2 * 0.1 ** 4, rel=1e-3)  # two all-silent blocks, always skipped
    assert r["bytes_skipped_after"] == pytest.approx(2 * 4 * 4, rel=1e-3)  # 2 blocks x 4 inputs x 4 outputs x 1 byte
    assert sorted(m.ops[-1].attrs["hw.in_order"]) == list(range(16))
    np.testing.assert_array_equal(Interpreter(m)(x=x)[0], before)  # a mapping decision: values unchanged
