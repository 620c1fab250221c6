"""canonicalize, cse and dce keep results identical and do what their docstrings promise."""

from __future__ import annotations

from sbcompile.ir import Builder, Module, tensor, verify
from sbcompile.passes import PassContext, parse_pipeline


def module_with_duplicates() -> Module:
    m = Module("dups")
    b = Builder(m)
    x = b.input("x", tensor(["seq", 4]))
    a = b.op("nn.silu", [x])
    a2 = b.op("nn.silu", [x])
    dead = b.op("nn.relu", [x])
    one = b.op("nn.scale", [a2], factor=1.0)
    b.output(b.op("nn.add", [a, one]))
    assert dead.name == "relu"
    return m


def run(m: Module, pipeline: str) -> list[bool]:
    ctx = PassContext()
    out = [p.run(m, ctx) for p in parse_pipeline(pipeline)]
    verify(m)
    return out


def test_pipeline_removes_duplicates_identities_and_dead_ops() -> None:
    m = module_with_duplicates()
    assert run(m, "canonicalize,cse,dce") == [True, True, True]
    assert [op.name for op in m.ops] == ["io.input", "nn.silu", "nn.add"]
    assert [v.name for v in m.ops[-1].operands] == ["silu", "silu"]
    assert run(m, "canonicalize,cse,dce") == [False, False, False]


def test_dce_keeps_inputs() -> None:
    m = Module("inputs")
    b = Builder(m)
    b.input("unused", tensor(["seq", 4]))
    x = b.input("x", tensor(["seq", 4]))
    b.output(x)
    assert run(m, "dce") == [False]
    assert len(m.ops) == 2
