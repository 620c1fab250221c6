"""partition: every neuron and synapse on exactly one core, no core over a limit (checked here
without the pass's code), known optima on hand-sized cases (core memory shared by synapses,
neuron state and routing; fan-out), and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from sbcompile.ir import Builder, Module, SbirError, spikes
from sbcompile.passes import PassContext, parse_pipeline
from sbcompile.targets.loihi2.machine import Loihi2Chip, Loihi2System


X86_ENCODERS = {"Encode": "embedded"}  # encoders on the embedded processors: the projections' tiling alone


def chip(**kw) -> Loihi2Chip:
    base = dict(neurons_per_core=100, max_in_axons=64, core_memory_kib=1024, axon_overhead_bits=0, neuron_state_bits=0,
                routing_bits_per_axon=0, placement=X86_ENCODERS)
    return Loihi2Chip(**{**base, **kw})


def dense_chain(sizes: list[int]) -> Module:
    m = Module("chain")
    b = Builder(m)
    x = b.input("s", spikes(["seq", sizes[0]]))
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        m.weights.add_fake(f"w{i}", (n_out, n_in))
        y = b.op("syn.dense", [x], weight=f"w{i}", out_features=n_out)
        x = b.op("spike.encode", [y])
    b.output(x)
    return m


def partition(m: Module, system: Loihi2System) -> dict:
    ctx = PassContext(target="loihi2", machine=system)
    for p in parse_pipeline("partition"):
        p.run(m, ctx)
    return ctx.report


def check_mapping(m: Module, system: Loihi2System, bits: int = 8) -> int:
    """An independent checker: rebuild every tile from the annotations; each synapse (o, i) must be
    covered once, each core used by one tile, and no tile may exceed a per-core limit."""
    c = system.chip
    used: set[int] = set()
    for op in m.ops:
        if op.attrs.get("hw.where") != "core":
            continue
        n_out, n_in = op.result.type.shape[-1], op.operands[0].type.shape[-1]
        out_t, in_t = op.attrs["hw.tile"]
        k_out, k_in = op.attrs["hw.tiles"]
        first, count = op.attrs["hw.cores"]
        assert count == k_out * k_in
        cover = np.zeros((n_out, n_in), np.int32)
        for a in range(k_out):
            for b in range(k_in):
                rows = range(a * out_t, min((a + 1) * out_t, n_out))
                cols = range(b * in_t, min((b + 1) * in_t, n_in))
                cover[rows.start:rows.stop, cols.start:cols.stop] += 1
                assert len(rows) <= c.neurons_per_core and len(cols) <= c.max_in_axons
                assert (len(cols) * (len(rows) * bits + c.axon_overhead_bits)
                        + len(rows) * (c.neuron_state_bits + c.routing_bits_per_axon)) <= c.core_memory_bits
        assert (cover == 1).all()
        cores = set(range(first, first + count))
        assert not cores & used
        used |= cores
    assert used == set(range(len(used))) and len(used) <= system.cores
    return len(used)


@pytest.mark.parametrize("limits, sizes, optimum", [
    ({}, [50, 300], 3),                                    # neuron-bound: 300 neurons / 100 per core
    ({}, [200, 40], 4),                                    # axon-bound: 200 inputs / 64 axons per core
    ({"core_memory_kib": 1}, [64, 64], 4),              # memory-bound: 32 Kibit of weights / 8 Kibit per core
    ({"core_memory_kib": 1}, [32, 100, 10], 5 + 1),     # two layers
    # neuron state shares the memory: 64 x (64 x 8 + 64) bits; in_t 64 gives out_t 14 -> 5 tiles (in_t 32: 6)
    ({"core_memory_kib": 1, "neuron_state_bits": 64}, [64, 64], 5),
])
def test_known_optima(limits: dict, sizes: list[int], optimum: int) -> None:
    system = Loihi2System(name="test", chip=chip(**limits))
    m = dense_chain(sizes)
    report = partition(m, system)
    assert check_mapping(m, system) == optimum == report["cores_used"]
    assert report["cores_lower_bound"] <= report["cores_used"]


def brute_force_cores(n_in: int, n_out: int, c: Loihi2Chip, bits: int = 8) -> int:
    """The fewest cores over every split of a layer into k_out x k_in equal tiles."""
    best = None
    for k_in in range(1, n_in + 1):
        for k_out in range(1, n_out + 1):
            out_t, in_t = -(-n_out // k_out), -(-n_in // k_in)
            fits = (out_t <= c.neurons_per_core and in_t <= c.max_in_axons
                    and in_t * (out_t * bits + c.axon_overhead_bits) + out_t * (c.neuron_state_bits + c.routing_bits_per_axon)
                    <= c.core_memory_bits)
            if fits and (best is None or k_in * k_out < best):
                best = k_in * k_out
    return best


def test_random_layers_respect_limits_and_are_optimal() -> None:
    rng = np.random.default_rng(0)
    system = Loihi2System(name="test", chips=8, chip=chip(core_memory_kib=2, cores_per_chip=64, axon_overhead_bits=10,
                                                          neuron_state_bits=16, routing_bits_per_axon=8))
    for _ in range(8):
        sizes = [int(v) for v in rng.integers(1, 200, size=3)]
        m = dense_chain(sizes)
        report = partition(m, system)
        assert check_mapping(m, system) == report["cores_used"]
        assert report["cores_used"] == sum(brute_force_cores(a, b, system.chip) for a, b in zip(sizes, sizes[1:]))


def test_host_ops_are_listed() -> None:
    m = dense_chain([8, 8])
    report = partition(m, Loihi2System(name="test", chip=chip()))
    assert [h["op"] for h in report["host_ops"]] == ["io.input", "spike.encode"]
    enc = report["host_ops"][1]
    assert enc["where"] == "embedded" and enc["bytes_per_token_in"] == 32


def test_too_big_names_the_limit_and_a_system() -> None:
    m = dense_chain([50, 3000])
    with pytest.raises(SbirError, match=r"the model needs 30 cores \(bound by neurons per core: .*\); test has 8; try --system hala-point"):
        partition(m, Loihi2System(name="test", chip=chip(cores_per_chip=8)))


def test_needs_a_neuromorphic_machine() -> None:
    with pytest.raises(SbirError, match="partition needs a neuromorphic machine description"):
        PassContext().target and parse_pipeline("partition")[0].run(dense_chain([2, 2]), PassContext())


def test_legality_rules_name_op_core_resource_need_and_have() -> None:
    from sbcompile.passes.legality import TileUse, violations

    msgs = violations(TileUse(neurons=120, in_axons=10, synapse_bits=9_000_000), chip(), "syn.dense %q", 7)
    assert msgs == ["neurons-per-core: syn.dense %q on core 7 needs 120 neurons, a core has 100",
                    "core-memory-per-core: syn.dense %q on core 7 needs 9,000,000 bits of core memory (synapses, "
                    "neuron state, routing), a core has 8,388,608"]
    msgs = violations(TileUse(10, 10, 0, 0, 0, out_axons=5000), chip(max_out_axons=4096), "syn.dense %q", 0)
    assert msgs == ["output-axons-per-core: syn.dense %q on core 0 needs 5,000 output axons, a core has 4,096"]


def test_fan_out_limits_the_tile() -> None:
    """A projection feeding another projection's 3 row tiles needs 3 output axons per neuron: with
    128 output axons per core its tiles hold at most 42 neurons (200 outputs -> 5 tiles)."""
    m = Module("fanout")
    b = Builder(m)
    x = b.input("s", spikes(["seq", 16]))
    m.weights.add_fake("w0", (200, 16))
    m.weights.add_fake("w1", (300, 200))
    h = b.op("syn.dense", [x], weight="w0", out_features=200)
    y = b.op("syn.dense", [h], weight="w1", out_features=300)
    b.output(y)
    report = partition(m, Loihi2System(name="test", chip=chip(max_out_axons=128, max_in_axons=256)))
    assert report["partition"][y.name]["tiles"] == [3, 1]
    assert report["partition"][h.name]["tile"][0] == 42 and report["partition"][h.name]["tiles"] == [5, 1]
    assert report["partition"][h.name]["out_axons_per_core"] == 126
