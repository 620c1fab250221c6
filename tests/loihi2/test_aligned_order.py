"""The slice-aligned core order: an input-split projection's slices beside the tiles that
produce them (an MLP's gate, up and down), and place keeping it when fewer messages cross chips."""

from __future__ import annotations

from sbcompile.ir import Builder, Module, tensor
from sbcompile.passes.aligned_order import aligned_order, feeders
from sbcompile.passes.mapping import CoreOp, Partitioning


def mlp() -> Module:
    """x -> gate, up (8 outputs each) -> gate * up -> down (4 outputs)."""
    m = Module("mlp")
    b = Builder(m)
    x = b.input("x", tensor(["seq", 16]))
    for name, shape in (("wg", (8, 16)), ("wu", (8, 16)), ("wd", (4, 8))):
        m.weights.add_fake(name, shape)
    gate = b.op("syn.dense", [x], weight="wg", out_features=8)
    up = b.op("syn.dense", [x], weight="wu", out_features=8)
    down = b.op("syn.dense", [b.op("nn.mul", [gate, up])], weight="wd", out_features=4)
    b.output(down)
    return m


def tiles(m: Module, up_first: int, down_first: int) -> Partitioning:
    """gate and up: 2 output tiles of 4 (gate from core 0); down: 2 input tiles of 4; the product
    lives in gate's neurons."""
    gate, up, mul, down = (op.result.name for op in m.ops[1:5])
    return Partitioning(
        where={gate: "core", up: "core", mul: "core", down: "core"},
        core_ops={gate: CoreOp(gate, True, 0, 8, 16, 4, 16, 2, 1, 8), up: CoreOp(up, True, up_first, 8, 16, 4, 16, 2, 1, 8),
                  down: CoreOp(down, True, down_first, 4, 8, 4, 4, 1, 2, 8)},
        cores=down_first + 2, holder={mul: gate})


def test_each_slice_sits_beside_its_producers() -> None:
    m = mlp()
    part = tiles(m, 2, 4)
    assert feeders(m.ops[4].operands[0], part) == [m.ops[1].result.name, m.ops[2].result.name]
    # channels 0-3: gate's tile, up's tile, then down's first input tile; channels 4-7 likewise
    assert aligned_order(m, part).tolist() == [0, 2, 4, 1, 3, 5]


def test_cores_not_in_one_run_keep_their_order() -> None:
    m = mlp()
    assert aligned_order(m, tiles(m, 3, 5)).tolist() == list(range(7))  # core 2 belongs to another op
