"""NIR -> sbir -> NIR keeps every node, every parameter (arrays equal, same dtype and shape) and
every edge; the sbir in between also round-trips through its text form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from sbcompile.frontend.nir_export import to_nir, write_nir  # noqa: E402
from sbcompile.frontend.nir_import import from_nir, load_nir  # noqa: E402
from sbcompile.ir import parse, print_module, verify  # noqa: E402

from .graphs import every_node_graph  # noqa: E402


def assert_same_graph(a, b, strict_types: bool = True) -> None:
    """Same nodes, edges and parameters. strict_types: also the same Python types (graphs read
    from files; in-memory graphs may hold tuples where a file holds arrays)."""
    assert sorted(a.nodes) == sorted(b.nodes)
    assert sorted(a.edges) == sorted(b.edges)
    for name in a.nodes:
        x, y = a.nodes[name], b.nodes[name]
        assert type(x) is type(y), name
        dx, dy = x.to_dict(), y.to_dict()
        assert sorted(dx) == sorted(dy), name
        for field in dx:
            if field == "metadata":
                continue
            u, v = dx[field], dy[field]
            assert type(u) is type(v) or not strict_types, (name, field, u, v)
            if isinstance(u, np.ndarray) and isinstance(v, np.ndarray):
                assert u.dtype == v.dtype and u.shape == v.shape, (name, field)
                assert np.array_equal(u, v), (name, field)
            else:
                assert np.array_equal(np.asarray(u, dtype=object), np.asarray(v, dtype=object)), (name, field, u, v)


def through_sbir(path: Path, out: Path):
    m = load_nir(path)
    verify(m)
    text = print_module(m)
    again = parse(text)
    assert print_module(again) == text
    again.weights = m.weights
    write_nir(again, out)
    return nir.read(str(out), type_check=False)


def test_every_node_type_round_trips(tmp_path: Path) -> None:
    src = tmp_path / "every.nir"
    nir.write(str(src), every_node_graph())
    kinds = {type(n).__name__ for n in nir.read(str(src), type_check=False).nodes.values()}
    assert kinds == {"Input", "Output", "Affine", "Linear", "Conv1d", "Conv2d", "Flatten", "SumPool2d", "AvgPool2d",
                     "Scale", "Threshold", "Delay", "IF", "LIF", "CubaLIF", "CubaLI", "LI", "I"}
    back = through_sbir(src, tmp_path / "back.nir")
    assert_same_graph(nir.read(str(src), type_check=False), back)
    assert back.metadata["dt"] == 1e-4


def test_in_memory_graph_round_trips() -> None:
    g = every_node_graph(seed=3)
    m = from_nir(g)
    verify(m)
    assert m.attrs["dt"] == 1e-4 and m.attrs["nir.outputs"] == ("out1", "out2", "out3")
    assert_same_graph(g, to_nir(m), strict_types=False)


def test_snntorch_export_round_trips(tmp_path: Path) -> None:
    pytest.importorskip("snntorch")
    from . import snntorch_nets as S

    for make in (S.conv_net, S.lif_net):
        net, shape = make()
        src = tmp_path / f"{make.__name__}.nir"
        nir.write(str(src), S.export(net, shape))
        assert_same_graph(nir.read(str(src)), through_sbir(src, tmp_path / f"{make.__name__}.back.nir"))


def test_dt_from_caller_metadata_or_default(tmp_path: Path) -> None:
    g = every_node_graph()
    assert from_nir(g, dt=1e-3).attrs["dt"] == 1e-3
    g.metadata = {}
    m = from_nir(g)
    assert m.attrs["dt"] == 1e-4
    assert {op.params.dt for op in m.ops if "dt" in type(op.params).model_fields} == {1e-4}
