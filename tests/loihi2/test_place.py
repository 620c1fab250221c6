"""place: chips chosen to keep traffic on chip (Kernighan-Lin fixes a bad dataflow order on two
chips, counted by hand), processor ops relayed per chip, deterministic under a seed."""

from __future__ import annotations

import numpy as np
import pytest

from sbcompile.ir import Builder, Module, tensor
from sbcompile.passes import PassContext, parse_pipeline
from sbcompile.passes.mapping import Placement, Traffic, find
from sbcompile.passes.place import hilbert_order
from sbcompile.targets.loihi2.machine import Loihi2Chip, Loihi2System
from tests.loihi2.test_partition import X86_ENCODERS, dense_chain


def run(m: Module, system: Loihi2System, pipeline: str = "partition,place") -> PassContext:
    ctx = PassContext(target="loihi2", machine=system)
    for p in parse_pipeline(pipeline):
        p.run(m, ctx)
    return ctx


def interleaved() -> Module:
    """Two encoders X and Y, each feeding two 2-tile projections, written X, Y, X, Y: packed in
    that order, each encoder's projections straddle both chips."""
    m = Module("interleaved")
    b = Builder(m)
    x = b.input("x", tensor(["seq", 16]))
    enc = {"X": b.op("spike.encode", [x], k=2.0), "Y": b.op("spike.encode", [x], k=3.0)}
    outs = []
    for i, e in enumerate("XYXY"):
        m.weights.add_fake(f"w{i}", (8, 16))
        y = b.op("syn.dense", [enc[e]], weight=f"w{i}", out_features=8)
        outs.append(b.op("spike.encode", [y]))
    b.output(*outs)
    return m


def two_chips() -> Loihi2System:
    chip = Loihi2Chip(cores_per_chip=4, neurons_per_core=4, mesh=(2, 2), placement=X86_ENCODERS)
    return Loihi2System(name="two", chips=2, chip_mesh=(2, 1), chip=chip)


def encoder_projection_on_two_chips() -> tuple[Module, Loihi2Chip]:
    """An encoder feeding a 16 -> 16 projection, then an encoder; chips of 2 cores of 4 neurons
    (the projection's 4 tiles span two chips)."""
    m = Module("one")
    b = Builder(m)
    x = b.input("x", tensor(["seq", 16]))
    m.weights.add_fake("w", (16, 16))
    y = b.op("syn.dense", [b.op("spike.encode", [x])], weight="w", out_features=16)
    b.output(b.op("spike.encode", [y]))
    return m, Loihi2Chip(cores_per_chip=2, neurons_per_core=4, mesh=(2, 1), placement=X86_ENCODERS)


def test_hilbert_order_visits_every_cell_once_in_unit_steps() -> None:
    cells = hilbert_order(8, 16)
    assert sorted(cells) == [(x, y) for x in range(8) for y in range(16)]
    assert all(abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in zip(cells, cells[1:]))


def test_kernighan_lin_groups_each_encoders_projections_on_one_chip() -> None:
    m = interleaved()
    ctx = run(m, two_chips())
    placement = find(ctx, Placement)
    by_encoder: dict[str, set[int]] = {}
    for op in m.ops:
        if "hw.chips" in op.attrs:
            by_encoder.setdefault(op.operands[0].name, set()).update(op.attrs["hw.chips"])
    assert sorted(map(sorted, by_encoder.values())) == [[0], [1]]  # X on one chip, Y on the other
    assert placement.cut_after < placement.cut_before and ctx.report["place"]["assignment"] == "refined"
    p = ctx.report["place"]
    assert p["ours"]["cross_chip_messages_per_token"] == 0
    # packed in order (no refinement, one instance per encoder): each encoder's home is chip 0
    # (a tie, broken low) and it sends its 16 channels x 0.816 graded spikes to the 2 tiles on chip 1
    assert p["baseline_no_relays"]["cross_chip_messages_per_token"] == pytest.approx(2 * 2 * 16 * 0.816)
    # 8 tiles x 16 spike channels, 8 tiles x 4 partial sums, the input to both encoders
    assert p["ours"]["messages_per_token"] == pytest.approx(8 * 16 * 0.816 + 8 * 4 + 2 * 16)


def test_relays_cross_each_chip_once() -> None:
    """One encoder feeding a 4-tile projection on two chips: its spikes cross to the second chip
    once (16 channels x 0.816) and are relayed there to both tiles; the second chip's partial sums
    (8 channels) are merged there and cross once to the next encoder's home."""
    m, chip = encoder_projection_on_two_chips()
    ctx = run(m, Loihi2System(name="two", chips=2, chip_mesh=(2, 1), chip=chip))
    t = find(ctx, Traffic)
    cross = np.nonzero(t.cross_chip)[0]
    assert sorted((t.kind[i], t.messages[i]) for i in cross) == [("partial", 8.0), ("spike", pytest.approx(16 * 0.816))]
    baseline = ctx.report["place"]["baseline_no_relays"]  # each tile on chip 1 reached directly
    assert baseline["cross_chip_messages_per_token"] == pytest.approx(2 * 16 * 0.816 + 2 * 4)


def test_deterministic_under_seed() -> None:
    a = run(dense_chain([256, 512, 256]), Loihi2System(name="k", chips=8, chip_mesh=(4, 2)), "partition,place{seed=3}")
    b = run(dense_chain([256, 512, 256]), Loihi2System(name="k", chips=8, chip_mesh=(4, 2)), "partition,place{seed=3}")
    assert np.array_equal(find(a, Placement).pos_of_core, find(b, Placement).pos_of_core)
    assert a.report["place"] == b.report["place"]
    slots = find(a, Placement).pos_of_core
    assert len({tuple(s) for s in slots}) == len(slots)  # every core at its own slot


def test_seven_b_on_hala_point_keeps_cross_chip_traffic_under_30_percent() -> None:
    """The acceptance figures of the 7B mapping: cross-chip share, fit, and the report's ranges."""
    from sbcompile.frontend import load
    from sbcompile.targets.loihi2.machine import load_system

    ctx = run(load("spikingbrain-7b"), load_system("hala-point"), "cse,dce,partition,place,schedule,energy")
    r = ctx.report
    assert r["placement"]["cross_chip_share"] <= 0.30
    assert r["chips_used"] <= 1152 and r["cores_used"] <= 140_544
    assert r["place"]["ours"]["cross_chip_share"] < r["place"]["baseline_no_relays"]["cross_chip_share"]
    for section, key in (("energy", "static_j_per_token"), ("energy", "dynamic_j_per_token"),
                         ("schedule", "decode_ms_per_token"), ("schedule", "prefill_tokens_per_s")):
        assert r[section][key]["low"] <= r[section][key]["central"] <= r[section][key]["high"]
    assert r["energy"]["h200_measured"]["model"] == "spikingbrain-7b"
