"""The mapping of issue 20 on hand-checkable modules: ops placed where their neuron programs run,
elementwise ops fused into their producers' neurons, input-split projections summed by a tree of
accumulators on cores, and the report's core-to-core share and off-core ops per layer counted
from the traffic graph the mapping builds."""

from __future__ import annotations

import pytest

from sbcompile.ir import Builder, Module, SbirError, tensor
from sbcompile.passes import PassContext, parse_pipeline
from sbcompile.passes.mapping import Partitioning, Traffic, find
from sbcompile.targets.loihi2.machine import Loihi2Chip, Loihi2System, load_system
from tests.loihi2.test_partition import X86_ENCODERS


def two_layers(n_in: int = 16) -> Module:
    """x (host, n_in values) -> encode -> dense 16 -> relu -> encode -> dense 8 -> output."""
    m = Module("two")
    b = Builder(m)
    x = b.input("x", tensor(["seq", n_in]))
    m.weights.add_fake("w0", (16, n_in))
    m.weights.add_fake("w1", (8, 16))
    h = b.op("nn.relu", [b.op("syn.dense", [b.op("spike.encode", [x], result="e0")], weight="w0", out_features=16,
                               result="d0")], result="r0")
    b.output(b.op("syn.dense", [b.op("spike.encode", [h], result="e1")], weight="w1", out_features=8, result="d1"))
    return m


def mapped(m: Module, system: Loihi2System) -> PassContext:
    ctx = PassContext(target="loihi2", machine=system)
    for p in parse_pipeline("partition,place,schedule,energy"):
        p.run(m, ctx)
    return ctx


def test_every_op_on_cores_and_the_relu_fused() -> None:
    m = two_layers()
    ctx = mapped(m, load_system(None))
    where = {op.result.name: op.attrs["hw.where"] for op in m.ops}
    assert where == {"x": "host", "e0": "core", "d0": "core", "r0": "core", "e1": "core", "d1": "core"}
    relu = next(op for op in m.ops if op.result.name == "r0")
    assert relu.attrs["hw.fused"] == "d0" and "hw.cores" not in relu.attrs  # runs in d0's accumulators
    # off the cores: nothing but the argmax that reads the outputs, in a module of one layer
    assert ctx.report["mapping"] == {"offcore_ops": 1, "layers": 1, "offcore_ops_per_layer": 1.0, "fused_ops": 1}


def test_core_to_core_share_counts_the_traffic_graph() -> None:
    """Per token: 16 values from the host to the chip's relay and on to e0's neurons (off-core, twice),
    16 x 0.816 spikes e0 -> d0,
    16 values d0 (relu fused) -> e1, 16 x 0.816 spikes e1 -> d1, 8 sums d1 -> the argmax (off-core)."""
    ctx = mapped(two_layers(), load_system(None))
    on, off = 2 * 16 * 0.816 + 16, 2 * 16 + 8
    assert ctx.report["place"]["ours"]["messages_per_token"] == pytest.approx(on + off)
    assert ctx.report["placement"]["core_to_core_share"] == pytest.approx(on / (on + off), abs=1e-4)
    t = find(ctx, Traffic)
    assert t is not None and {t.transfers[i] for i in t.transfer[(t.src < t.cores) & (t.dst >= t.cores)].tolist()} == {
        ("d1", "(argmax)")}


def test_the_previous_placement_sends_everything_through_processors() -> None:
    """With the encoders and ReLU on the embedded processors (the previous table), no message
    travels between neurocores: each projection talks only to processors."""
    system = Loihi2System(name="x86", chip=Loihi2Chip(placement={**X86_ENCODERS, "ReLU": "embedded"}))
    ctx = mapped(two_layers(), system)
    assert ctx.report["placement"]["core_to_core_share"] == 0.0
    assert ctx.report["mapping"]["offcore_ops"] == 3 + 1  # two encoders, the relu, the argmax


def test_input_split_projection_sums_its_tiles_on_cores() -> None:
    """A 150-input projection on cores of 64 input axons: 3 input tiles, summed by a tree of
    accumulators (tile 1 -> 0 at the first level, tile 2 -> 0 at the second: 2 x 16 partial sums,
    ceil(log2 3) = 2 steps beyond the projection's own), none of them by an x86 processor."""
    system = Loihi2System(name="split", chip=Loihi2Chip(max_in_axons=64))
    ctx = mapped(two_layers(150), system)
    part, t = find(ctx, Partitioning), find(ctx, Traffic)
    assert part is not None and t is not None
    d0 = part.core_ops["d0"]
    assert (d0.k_out, d0.k_in) == (1, 3) and part.steps["d0"] == 3 and part.steps["r0"] == 0
    tree = [i for i, tr in enumerate(t.transfers) if tr == ("d0", "d0")]
    sel = [j for j, tr in enumerate(t.transfer.tolist()) if tr in tree]
    assert sorted((int(t.src[j]) - d0.first, int(t.dst[j]) - d0.first, float(t.messages[j])) for j in sel) == \
        [(1, 0, 16.0), (2, 0, 16.0)]
    assert all(k == "partial" for j, k in enumerate(t.kind) if j in sel)


def test_an_op_without_a_neuron_program_stays_off_the_cores_or_fails_clearly() -> None:
    """`nn.route` has no neuron program: by default it runs on the host (the mapping still times
    it, with no core at all); placed on neurocores by the table, partition names it and the fix."""
    m = Module("route")
    b = Builder(m)
    b.output(b.op("nn.route", [b.input("x", tensor(["seq", 4]))], experts=4, expert=1, result="r"))
    ctx = mapped(m, load_system(None))
    assert ctx.report["cores_used"] == 0 and ctx.report["mapping"]["offcore_ops"] == 1
    with pytest.raises(SbirError, match=r"no neuron program for nn.route \(%r\): it cannot run on neurocores"):
        mapped(m, Loihi2System(name="x", chip=Loihi2Chip(placement={"Route": "core"})))
