"""schedule and energy on hand-computed cases: one core, one mesh link saturated, two chips with
a slow chip link; and the 7B-shaped tiny model's report keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from sbcompile.frontend import load
from sbcompile.ir import Module
from sbcompile.ir.dialects.syn import Dense
from sbcompile.passes import PassContext, parse_pipeline
from sbcompile.loihi2_model.costs import Loihi2Costs, Range
from sbcompile.targets.loihi2.machine import Loihi2Chip, Loihi2System, load_system
from tests.loihi2.test_partition import X86_ENCODERS, dense_chain
from tests.loihi2.test_place import encoder_projection_on_two_chips

TINY = Path(__file__).parents[2] / "examples" / "tiny"
IDEAL = 1e30  # a rate so high, or a cost so low (1 / IDEAL), that it never counts


def costs(**values: float) -> Loihi2Costs:
    """Every figure flat (low = central = high): the given ones, the rest ideal."""
    out = {}
    for name, field in Loihi2Costs.model_fields.items():
        better = field.default.better
        v = values.get(name, IDEAL if better == "high" else 0.0)
        out[name] = Range(low=v, central=v, high=v, better=better)
    return Loihi2Costs(**out)


def compile_(m: Module, system: Loihi2System) -> PassContext:
    ctx = PassContext(target="loihi2", machine=system)
    for p in parse_pipeline("partition,place,schedule,energy"):
        p.run(m, ctx)
    return ctx


def test_one_core() -> None:
    """input (host, 64 spike channels) -> projection 64 -> 32 on one core -> encoder. Step 0: the
    chip's relay forwards the graded spikes of 64 x 0.816 = 52.224 channels (52.224 ops); step 1: the
    core does 52.224 x 32 = 1,671.168 synaptic ops; step 2: the encoder, 32 x 6 = 192 ops. Rates 1 G synops/s, 0.1 G
    ops/s per embedded processor, 1 us barrier."""
    system = Loihi2System(name="one", chip=Loihi2Chip(placement=X86_ENCODERS), costs=costs(synops_per_s_per_core=1e9, embedded_ops_per_s=1e8, barrier_s=1e-6,
                                                  chip_static_w=1.0, synop_j=1e-12, neuron_update_active_j=1e-11,
                                                  neuron_update_idle_j=1e-12))
    ctx = compile_(dense_chain([64, 32]), system)
    s = ctx.report["schedule"]
    decode = (52.224 / 1e8 + 1e-6) + (1671.168 / 1e9 + 1e-6) + (192 / 1e8 + 1e-6)
    assert s["steps_per_token"] == 3
    assert s["decode_ms_per_token"] == {k: pytest.approx(decode * 1e3, rel=1e-3) for k in ("low", "central", "high")}
    # pipelined: the encoder's processor, 1.92 us, bounds the step (the core's synops: 1.67 us)
    assert s["prefill_tokens_per_s"]["central"] == pytest.approx(1 / (192 / 1e8 + 1e-6), rel=1e-3)
    assert s["prefill_bound"] == "embedded processors"
    e = ctx.report["energy"]
    assert e["static_j_per_token"]["central"] == pytest.approx(1 * 1.0 * decode, rel=1e-3)  # one chip, 1 W
    # 32 neurons active once, with their accumulator program (8 micro-ops, 8/9 of a LIF update), idle in the
    # other 2 of 3 steps
    assert e["dynamic_j_per_token"]["central"] == pytest.approx(1671.168e-12 + (32 + 32 * 8 / 9) * 1e-11 + 64e-12, rel=1e-6)


def test_one_link_saturated() -> None:
    """The same module with a 1 Mbit/s mesh: the host's spikes reach the chip's west edge at row
    0, the relay (second embedded processor, row 8) and return to the core at (0, 0): the links
    between rows 0 and 8 carry 2 x 52.224 x 40 bits per token, and bound the step."""
    system = Loihi2System(name="one", chip=Loihi2Chip(placement=X86_ENCODERS), costs=costs(noc_link_bits_per_s=1e6, barrier_s=1e-6))
    s = compile_(dense_chain([64, 32]), system).report["schedule"]
    link = 2 * 52.224 * 40 / 1e6
    assert s["prefill_bound"] == "mesh links"
    assert s["prefill_tokens_per_s"]["central"] == pytest.approx(1 / (link + 1e-6), rel=1e-6)
    assert s["decode_ms_per_token"]["central"] == pytest.approx((link + 3e-6) * 1e3, rel=1e-6)


def test_two_chips_and_a_slow_chip_link() -> None:
    """An encoder feeding a 4-tile projection over two chips: in step 2 the graded spikes of
    16 x 0.816 channels cross the chip link once (40 bits each), in step 3 the second chip's 8 merged partial sums
    cross back (56 bits each); 1 kbit/s and 1 ms per crossing."""
    m, chip = encoder_projection_on_two_chips()
    system = Loihi2System(name="two", chips=2, chip_mesh=(2, 1), chip=chip,
                          costs=costs(chip_link_bits_per_s=1e3, chip_link_latency_s=1e-3, chip_static_w=2.0))
    ctx = compile_(m, system)
    s, e = ctx.report["schedule"], ctx.report["energy"]
    spikes, partials = 16 * 0.816 * 40, 8 * 56
    assert s["decode_ms_per_token"]["central"] == pytest.approx((spikes / 1e3 + 1e-3 + partials / 1e3 + 1e-3) * 1e3)
    assert s["prefill_tokens_per_s"]["central"] == pytest.approx(1 / ((spikes + partials) / 1e3 + 1e-3))
    assert s["prefill_bound"] == "chip links"
    assert e["work_per_token"]["chips"] == 2 and e["work_per_token"]["chip_link_bits"] == pytest.approx(spikes + partials)
    assert e["static_j_per_token"]["central"] == pytest.approx(2 * 2.0 * (spikes + partials) / 1e3 + 2 * 2.0 * 2e-3)


def test_ranges_and_report_keys_on_the_tiny_model() -> None:
    m = load(str(TINY))
    ctx = PassContext(target="loihi2", machine=load_system(None))
    for p in parse_pipeline(f"cse,dce,calibrate{{text={TINY / 'calib.txt'},tokens=128}},partition,place,schedule,energy"):
        p.run(m, ctx)
    r = ctx.report
    for section, key in (("energy", "static_j_per_token"), ("energy", "dynamic_j_per_token"),
                         ("schedule", "decode_ms_per_token"), ("schedule", "prefill_tokens_per_s")):
        v = r[section][key]
        assert list(v) == ["low", "central", "high"] and 0 < v["low"] <= v["central"] <= v["high"], key
    assert 0 <= r["placement"]["cross_chip_share"] <= 1
    # every placed op counts: the non-spiking projections (down_proj, lm_head) add synaptic ops
    dense_in = sum(op.operands[0].type.shape[-1] * op.result.type.shape[-1] for op in m.ops
                   if op.isa(Dense) and op.attrs.get("hw.where") == "core" and op.operands[0].type.kind != "spikes")
    assert dense_in > 0 and r["energy"]["work_per_token"]["synaptic_ops"] > dense_in
