"""Typed analyses: requested by class, computed from the module when the class can be, kept
across passes that preserve them or leave the module unchanged, dropped otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from sbcompile.ir import Module, SbirError, parse
from sbcompile.pass_manager import PassManager
from sbcompile.passes import Pass, PassContext
from sbcompile.passes.analysis import AnalysisManager
from sbcompile.passes.calibrate import Calibration

CALIBRATED = """module @m {
  %x = io.input() {name = "x", calib.absmax = 5.0} : tensor<[seq, 4], f32>
  %s = spike.encode(%x) {calib.active = [0.5, 0.0, 1.0, 0.25], calib.tokens = 8} : spikes<[seq, 4], i32>
  output %s
}"""


@dataclass
class Placed:
    cores: int


def test_calibration_is_computed_from_the_ir_attributes() -> None:
    m = parse(CALIBRATED)
    cal = AnalysisManager().get(Calibration, m)
    assert cal.absmax == {"x": 5.0}
    enc = cal.encoders["s"]
    assert enc.active.tolist() == [0.5, 0.0, 1.0, 0.25] and enc.tokens == 8
    assert enc.rate is None and enc.hist is None


def test_a_result_no_pass_produced_is_none_or_a_clear_error() -> None:
    am = AnalysisManager()
    assert am.get(Placed) is None
    with pytest.raises(SbirError, match="schedule needs the Placed that `place` computes; run it first"):
        am.require(Placed, None, "schedule", "place")
    am.set(Placed(3))
    assert am.require(Placed, None, "schedule", "place") == Placed(3)


@dataclass(frozen=True)
class Produce(Pass):
    name: ClassVar[str] = "produce"

    def run(self, module: Module, ctx: PassContext) -> bool:
        ctx.analyses.set(Placed(len(module.ops)))
        return True


@dataclass(frozen=True)
class Touch(Pass):
    """Changes the module (an annotation); preserves nothing."""

    name: ClassVar[str] = "touch"

    def run(self, module: Module, ctx: PassContext) -> bool:
        module.ops[0].attrs["test.touched"] = True
        return True


@dataclass(frozen=True)
class TouchKeepingPlaced(Touch):
    preserves: ClassVar[tuple] = (Placed,)


@dataclass(frozen=True)
class Look(Pass):
    name: ClassVar[str] = "look"

    def run(self, module: Module, ctx: PassContext) -> bool:
        return False


def run(passes: list[Pass]) -> PassContext:
    ctx = PassContext()
    PassManager(passes).run(parse(CALIBRATED), ctx)
    return ctx


def test_a_pass_keeps_what_it_set_and_what_it_preserves() -> None:
    assert run([Produce()]).analyses.get(Placed) == Placed(2)
    assert run([Produce(), Look()]).analyses.get(Placed) == Placed(2)  # unchanged module: all kept
    assert run([Produce(), TouchKeepingPlaced()]).analyses.get(Placed) == Placed(2)
    assert run([Produce(), Touch()]).analyses.get(Placed) is None


def test_a_dropped_calibration_is_recomputed_from_the_module() -> None:
    m = parse(CALIBRATED)
    ctx = PassContext()
    first = ctx.analyses.get(Calibration, m)
    PassManager([Touch()]).run(m, ctx)
    again = ctx.analyses.get(Calibration, m)
    assert again is not first and np.array_equal(again.encoders["s"].active, first.encoders["s"].active)
