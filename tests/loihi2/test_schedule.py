"""schedule: an independent checker — data dependencies, link capacities per step, and routes
recomputed hop by hop — on the tiny model and on a small congested chain."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from sbcompile.frontend import load
from sbcompile.ir import Module
from sbcompile.passes import PassContext, parse_pipeline
from sbcompile.targets.loihi2.machine import load_system
from tests.loihi2.test_partition import dense_chain

TINY = Path(__file__).parents[2] / "examples" / "tiny"


def check(module: Module, ctx: PassContext) -> None:
    sched, g, pos = ctx.results["schedule"], ctx.results["traffic"], ctx.results["placement"]
    system = ctx.machine
    width = system.chip_mesh[0] * system.chip.mesh[0]
    height = system.chip_mesh[1] * system.chip.mesh[1]
    windows = {(w["from"], w["to"]): w["window"] for w in sched["windows"]}
    for op in module.ops:  # dependencies
        for v in op.operands:
            ready = windows[(v.name, op.result.name)].end if (v.name, op.result.name) in windows else sched["finish"][v.name]
            assert sched["start"][op.result.name] >= ready >= sched["finish"][v.name]
            if (v.name, op.result.name) in windows:
                assert windows[(v.name, op.result.name)].start >= sched["finish"][v.name]
    per_step: dict[tuple[int, int], float] = defaultdict(float)  # capacities
    for w in windows.values():
        for s in range(w.start, w.end):
            for link, msgs in zip(w.links.tolist(), w.per_step.tolist()):
                per_step[(s, link)] += msgs
    assert max(per_step.values()) <= sched["capacity"] * (1 + 1e-9)
    for t, (a, b) in enumerate(g.transfers):  # routes, hop by hop
        hops: dict[int, float] = defaultdict(float)
        for e in np.nonzero(g.transfer == t)[0]:
            (x, y), (x1, y1) = pos[g.src[e]].tolist(), pos[g.dst[e]].tolist()
            while x != x1:
                step = 1 if x1 > x else -1
                hops[y * width + min(x, x + step)] += g.weight[e]
                x += step
            while y != y1:
                step = 1 if y1 > y else -1
                hops[width * height + min(y, y + step) * width + x] += g.weight[e]
                y += step
        w = windows[(a, b)]
        got = dict(zip(w.links.tolist(), (w.per_step * w.steps).tolist()))
        assert got.keys() == hops.keys() and all(got[k] == pytest.approx(hops[k]) for k in hops)


def test_tiny_model_schedule_is_valid() -> None:
    m = load(str(TINY))
    ctx = PassContext(target="loihi2", machine=load_system(None))
    for p in parse_pipeline(f"cse,dce,calibrate{{text={TINY / 'calib.txt'},tokens=256}},partition,place,schedule"):
        p.run(m, ctx)
    check(m, ctx)
    r = ctx.report["schedule"]
    assert r["steps_per_token"] >= len(r["critical_path"]) - 1 and r["critical_path"][-1] == "lm_head"


def test_congested_links_spread_transfers_within_capacity() -> None:
    m = dense_chain([512, 512, 512])
    ctx = PassContext(target="loihi2", machine=load_system("kapoho-point"))
    for p in parse_pipeline("partition,place{sweeps=1},schedule{link-capacity=50}"):
        p.run(m, ctx)
    check(m, ctx)
    assert max(w["window"].steps for w in ctx.results["schedule"]["windows"]) > 1  # capacity forced spreading


def test_router_loads_count_both_ends() -> None:
    from sbcompile.passes.schedule import router_loads

    links = np.zeros(2 * 3 * 2)
    links[0] = 5.0  # (0,0)->(1,0)
    links[6 + 1] = 2.0  # (1,0)->(1,1)
    assert router_loads(links, 3, 2).tolist() == [5.0, 7.0, 0.0, 0.0, 2.0, 0.0]
