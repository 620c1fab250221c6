"""What time and energy a Loihi 2 system spends: every figure the cost model uses, as a
low/central/high range with its unit and its source. Intel publishes few per-operation figures
for Loihi 2, so most ranges are derived from published system totals (Hala Point) or anchored on
Loihi 1 (Davies et al. 2018); where nothing is published the source says "assumption" and the
range is wide. docs/loihi2.md prints the same table (tests/loihi2/test_machine.py checks that
every figure here has a source and a row there)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Scenario = Literal["low", "central", "high"]
SCENARIOS: tuple[Scenario, ...] = ("low", "central", "high")


class Range(BaseModel):
    """A figure known to within [low, high]; `central` is the value we believe most. `better`
    says which end makes a system look good: "high" for a rate, "low" for a cost."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    low: float
    central: float
    high: float
    better: Literal["high", "low"] = "low"

    def at(self, scenario: Scenario) -> float:
        """The value in a scenario: `low` is the optimistic end (fast and frugal), `high` the
        pessimistic one, so a scenario's results bound the prediction from one side."""
        if scenario == "central":
            return self.central
        optimistic = self.high if self.better == "high" else self.low
        pessimistic = self.low if self.better == "high" else self.high
        return optimistic if scenario == "low" else pessimistic


def _r(low: float, central: float, high: float, better: Literal["high", "low"] = "low") -> Range:
    return Range(low=low, central=central, high=high, better=better)


# Published system totals the ranges are derived from (Intel's Hala Point announcement, 2024).
HALA_POINT_CHIPS = 1152
HALA_POINT_CORES = 140_544
HALA_POINT_MAX_W = 2600.0
HALA_POINT_SYNOPS_PER_S = 380e12
HALA_POINT_MEMORY_BYTES_PER_S = 16e15
HALA_POINT_CORE_BYTES_PER_S = 3.5e15
HALA_POINT_CHIP_BYTES_PER_S = 5e12
PER_CHIP_SYNOPS_PER_S = HALA_POINT_SYNOPS_PER_S / HALA_POINT_CHIPS
MAX_W_PER_CHIP = HALA_POINT_MAX_W / HALA_POINT_CHIPS


class Loihi2Costs(BaseModel):
    """Rates, latencies, energies and powers. Units are in the field names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # time
    synops_per_s_per_core: Range = Field(_r(1.35e9, 2.7e9, 7.1e10, "high"))
    neuron_updates_per_s_per_core: Range = Field(_r(2.5e8, 1e9, 2e9, "high"))
    memory_bits_per_s_per_core: Range = Field(_r(4.6e11, 9.1e11, 9.1e11, "high"))
    noc_link_bits_per_s: Range = Field(_r(1e11, 2e11, 4e11, "high"))
    hop_latency_s: Range = Field(_r(2e-9, 4.1e-9, 4.1e-9))
    chip_link_bits_per_s: Range = Field(_r(4.3e9, 8.7e9, 1.7e10, "high"))
    chip_link_latency_s: Range = Field(_r(1e-7, 5e-7, 2e-6))
    barrier_s: Range = Field(_r(5e-7, 2e-6, 1e-5))
    embedded_ops_per_s: Range = Field(_r(1e8, 4e8, 1e9, "high"))
    host_ops_per_s: Range = Field(_r(5e10, 5e11, 3e12, "high"))
    host_link_bits_per_s: Range = Field(_r(8e8, 8e9, 8e10, "high"))
    host_link_latency_s: Range = Field(_r(5e-6, 2e-5, 1e-4))
    # energy
    synop_j: Range = Field(_r(6.7e-14, 3.8e-12, 6.8e-12))
    neuron_update_active_j: Range = Field(_r(1.3e-11, 2.6e-11, 5.2e-11))
    neuron_update_idle_j: Range = Field(_r(4e-13, 8.5e-13, 1.7e-12))
    noc_bit_hop_j: Range = Field(_r(2.7e-14, 5.5e-14, 1.1e-13))
    chip_link_bit_j: Range = Field(_r(1e-12, 5e-12, 2e-11))
    embedded_op_j: Range = Field(_r(2e-11, 5e-11, 2e-10))
    host_op_j: Range = Field(_r(1e-11, 3e-11, 1e-10))
    host_link_bit_j: Range = Field(_r(5e-12, 2e-11, 1e-10))
    chip_static_w: Range = Field(_r(0.5, 1.0, MAX_W_PER_CHIP))


# Every field above (and every structural field of the chip, machine.py) has an entry here:
# the source, in the project's words. tests/loihi2/test_machine.py checks it.
COST_SOURCES: dict[str, str] = {
    "synops_per_s_per_core": "Hala Point: 380T synaptic ops/s over 140,544 cores = 2.7 G per core (central, a peak "
                             "figure); low: half of it sustained (assumption); high: its 20 peta-ops counted as "
                             "synaptic ops at 2 ops each (Intel's Hala Point announcement, 2024)",
    "neuron_updates_per_s_per_core": "assumption: not published for Loihi 2; about one compartment update per "
                                     "nanosecond per core, range 0.25-2 per ns",
    "memory_bits_per_s_per_core": "Hala Point: 16 PB/s of memory bandwidth over 140,544 cores = 114 GB/s per core "
                                  "(central and high); low: half sustained (assumption)",
    "noc_link_bits_per_s": "Hala Point: 3.5 PB/s between cores over 140,544 cores = 25 GB/s per core, taken as one "
                           "mesh link's bandwidth (central); range 0.5-2x (assumption: the link count per core is "
                           "not published)",
    "hop_latency_s": "Loihi: 4.1 ns per mesh hop (Davies et al., IEEE Micro 38(1) 2018, Table 1); low: halved "
                     "for Intel 4 (assumption)",
    "chip_link_bits_per_s": "Hala Point: 5 TB/s between chips over 1,152 chips = 4.3 GB/s per chip, split over "
                            "the four links of our 2-D chip mesh (central 8.7 Gbit/s per link); range 0.5-2x "
                            "(assumption on the link count)",
    "chip_link_latency_s": "assumption: not published; 0.1-2 us per chip-to-chip crossing",
    "barrier_s": "assumption: Loihi's time step ends with a barrier whose cost is not published; 0.5-10 us per "
                 "step on top of the slowest resource (the runtime model of Timcheck et al., arXiv 2601.10035, "
                 "has the same form)",
    "embedded_ops_per_s": "assumption: Lakemont-class x86 cores without a published clock; 0.1-1 G simple ops/s",
    "host_ops_per_s": "assumption: a server host, from a few cores (50 G float ops/s) to two vector sockets (3 T)",
    "host_link_bits_per_s": "assumption: Ethernet or PCIe between host and system, 0.1-10 GB/s",
    "host_link_latency_s": "assumption: 5-100 us per host round trip leg (Ethernet/PCIe class); nengo-loihi "
                           "measured about 8 ms per step for per-step host I/O on Loihi 1 (PR #26), far above it",
    "synop_j": "high: Hala Point's all-in bound, 2,600 W / 380T synops/s = 6.8 pJ; central: that bound less the "
               "central static power, (2.26 W - 1 W) per chip / 330 G synops/s per chip = 3.8 pJ; low: the "
               "inverse of Hala Point's 15 TOPS/W (8-bit), 0.067 pJ. Loihi 1: 23.6 pJ (Davies 2018)",
    "neuron_update_active_j": "Loihi 1: 52 pJ per active update (Davies 2018) as high; central and low: halved "
                              "and quartered for Intel 4 (assumption)",
    "neuron_update_idle_j": "Loihi 1: about 1.7 pJ per idle update (Davies 2018) as high; halved and quartered "
                            "(assumption)",
    "noc_bit_hop_j": "Loihi 1: 3.5 pJ per spike per hop (Davies 2018) over a 32-bit message = 0.11 pJ per bit "
                     "and hop as high; halved and quartered (assumption)",
    "chip_link_bit_j": "assumption: board-level links, 1-20 pJ per bit (not published for Loihi 2)",
    "embedded_op_j": "assumption: 20-200 pJ per simple op on a small in-order x86 core",
    "host_op_j": "assumption: 10-100 pJ per float op on a server CPU, its share of socket power",
    "host_link_bit_j": "assumption: 5-100 pJ per bit over Ethernet/PCIe, both ends",
    "chip_static_w": "about 1 W per Loihi 2 chip is commonly quoted (open-neuromorphic.org's Loihi 2 page); high: "
                     "Hala Point's maximum over its chips, 2,600 W / 1,152 = 2.26 W; low: half of 1 W "
                     "(assumption)",
}
