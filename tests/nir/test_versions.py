"""NIR versions: files written before v_reset existed (NIR < 1.0.6) reset by subtracting the
threshold; `--emit nir` writes the oldest version's form that keeps the graph's meaning (or the one
asked for), checked against what nir 1.0.4 (pinned by Sinabs, Norse, Rockpool) accepts; dt
against tau warns or fails."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

nir = pytest.importorskip("nir")

from sbcompile.cli import main  # noqa: E402
from sbcompile.frontend.nir_import import OldResetWarning, TimeStepWarning, load_nir  # noqa: E402
from sbcompile.frontend.nir_versions import write_file  # noqa: E402
from sbcompile.ir import SbirError  # noqa: E402
from sbcompile.ir.interpreter import Interpreter  # noqa: E402

from . import nir_spec  # noqa: E402
from .test_recurrent import recurrent_cuba_graph  # noqa: E402

# The datasets nir 1.0.4 builds each node from (`cls(**datasets)` on its dataclass fields, read
# from its source): required, and the optional ones it also takes. Anything else is an error there.
NIR_104_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "Input": ({"shape"}, set()), "Output": ({"shape"}, set()),
    "Affine": ({"weight", "bias"}, {"metadata"}), "Linear": ({"weight"}, set()), "Scale": ({"scale"}, set()),
    "Conv1d": ({"weight", "stride", "padding", "dilation", "groups", "bias"}, {"input_shape", "metadata"}),
    "Conv2d": ({"weight", "stride", "padding", "dilation", "groups", "bias"}, {"input_shape"}),
    "SumPool2d": ({"kernel_size", "stride", "padding"}, {"metadata"}), "AvgPool2d": ({"kernel_size", "stride", "padding"}, set()),
    "Delay": ({"delay"}, {"metadata"}), "Flatten": (set(), {"input_type", "start_dim", "end_dim", "metadata"}),
    "I": ({"r"}, {"metadata"}), "IF": ({"r", "v_threshold"}, {"metadata"}), "LI": ({"tau", "r", "v_leak"}, {"metadata"}),
    "LIF": ({"tau", "r", "v_leak", "v_threshold"}, {"metadata"}),
    "CubaLIF": ({"tau_syn", "tau_mem", "r", "v_leak", "v_threshold"}, {"w_in", "metadata"}),
    "Threshold": ({"threshold"}, {"metadata"}), "NIRGraph": ({"nodes", "edges"}, {"metadata"}),
}


def nir_104_problems(path: Path) -> list[str]:
    """What nir 1.0.4 would refuse in the file at `path` (empty: it reads it)."""
    problems = []

    def check(name: str, group) -> None:
        kind = group["type"][()].decode()
        if kind not in NIR_104_FIELDS:
            problems.append(f"{name}: type {kind} unknown to 1.0.4")
            return
        required, optional = NIR_104_FIELDS[kind]
        have = set(group) - {"type"}
        problems.extend(f"{name}: no {f}" for f in required - have)
        problems.extend(f"{name}: unexpected {f}" for f in have - required - optional)
        if kind == "NIRGraph":
            for k, sub in group["nodes"].items():
                check(f"{name}.{k}", sub)

    with h5py.File(path, "r") as f:
        check("node", f["node"])
    return problems


def old_file(path: Path, version: str, seed: int = 0) -> object:
    """The recurrent CubaLIF graph plus an IF layer, written as `version` without v_reset."""
    g = recurrent_cuba_graph(seed)
    g.nodes["if"] = nir.IF(r=np.full(3, 6e3, np.float32), v_threshold=np.full(3, 1.0, np.float32))
    g.nodes["out"] = g.nodes["out"]
    g.edges = [e for e in g.edges if e != ("lif", "out")] + [("lif", "if"), ("if", "out")]
    d = g.to_dict()
    for n in ("cuba", "lif", "if"):
        d["nodes"][n].pop("v_reset")
    write_file(path, d, version)
    return g


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("version", ["0.2.0", "1.0.4", "1.0.5"])
def test_files_before_v_reset_subtract_the_threshold(version: str, tmp_path: Path) -> None:
    g = old_file(tmp_path / "old.nir", version)
    with pytest.warns(OldResetWarning, match=rf"NIR {version} predates v_reset .* 3 neuron\(s\) reset by subtracting"):
        m = load_nir(tmp_path / "old.nir")
    assert {op.params.reset for op in m.ops if hasattr(op.params, "reset")} == {"subtract"}
    assert m.attrs["nir.version"] == version and "3 neuron(s) reset by subtracting" in m.attrs["nir.reset"]
    x = (np.random.default_rng(0).random((80, 5)) < 0.5).astype(np.float32)
    ours = Interpreter(m)(**{"in": x})[0].counts
    spec = nir_spec.simulate(g, {"in": x}, 1e-4, subtract=frozenset({"cuba", "lif", "if"}))["out"]
    zero = nir_spec.simulate(g, {"in": x}, 1e-4)["out"]
    assert spec.sum() > 0 and not np.array_equal(spec, zero)  # the reset matters here
    assert int((ours != spec).sum()) == 0


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_files_since_v_reset_and_unknown_versions(tmp_path: Path) -> None:
    old_file(tmp_path / "new.nir", "1.0.6")  # no v_reset in a 1.0.6 file: nir's default, zero
    m = load_nir(tmp_path / "new.nir")
    assert {op.params.reset for op in m.ops if hasattr(op.params, "reset")} == {"value"}
    old_file(tmp_path / "what.nir", "unknown")
    with pytest.raises(SbirError, match=r"NIR version 'unknown' unknown.*reset semantics .*subtract the threshold"):
        load_nir(tmp_path / "what.nir")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_emit_nir_writes_the_oldest_form_that_keeps_the_meaning(tmp_path: Path, capsys) -> None:
    old_file(tmp_path / "old.nir", "0.2.0")
    assert main([str(tmp_path / "old.nir"), "--emit", "nir", "-o", str(tmp_path / "back.nir")]) == 0
    with h5py.File(tmp_path / "back.nir") as f:
        assert f["version"][()] == b"1.0.0" and "v_reset" not in f["node/nodes/lif"]
    assert nir_104_problems(tmp_path / "back.nir") == []
    again = load_nir(tmp_path / "back.nir")  # and it still means subtract
    assert {op.params.reset for op in again.ops if hasattr(op.params, "reset")} == {"subtract"}

    nir.write(str(tmp_path / "zero.nir"), recurrent_cuba_graph())  # resets to v_reset: 1.0.6 at least
    assert main([str(tmp_path / "zero.nir"), "--emit", "nir", "-o", str(tmp_path / "z.nir")]) == 0
    with h5py.File(tmp_path / "z.nir") as f:
        assert f["version"][()] == b"1.0.6"
    capsys.readouterr()
    assert main([str(tmp_path / "zero.nir"), "--emit", "nir", "--nir-version", "1.0.4", "-o", str(tmp_path / "no.nir")]) == 1
    err = capsys.readouterr().err
    assert "NIR 1.0.4 cannot hold 2 node(s)" in err and "'cuba' (CubaLIF, resets to v_reset: NIR >= 1.0.6)" in err
    assert not (tmp_path / "no.nir").exists()
    assert main([str(tmp_path / "old.nir"), "--emit", "nir", "--nir-version", "1.0.8", "-o", str(tmp_path / "no.nir")]) == 1
    assert "resets by subtracting the threshold: NIR >= 1.0.0 and < 1.0.6" in capsys.readouterr().err


def test_every_node_type_1_0_4_knows_is_written_in_its_form(tmp_path: Path) -> None:
    from sbcompile.frontend.nir_export import write_nir
    from sbcompile.frontend.nir_import import from_nir

    from .graphs import every_node_graph

    g = every_node_graph()
    for name in ("cubali", "out3"):  # CubaLI: serialisable from nir 1.0.5
        del g.nodes[name]
    g.edges = [e for e in g.edges if "cubali" not in e]
    g.nodes["if"] = nir.IF(r=g.nodes["if"].r, v_threshold=g.nodes["if"].v_threshold)
    m = from_nir(g, subtract=frozenset({"if", "lif", "cuba"}))
    assert write_nir(m, tmp_path / "all.nir", "1.0.4") == "1.0.4"
    assert nir_104_problems(tmp_path / "all.nir") == []


@pytest.mark.skipif(not os.environ.get("NIR_104_PYTHON"), reason="NIR_104_PYTHON: a python with nir==1.0.4")
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_nir_1_0_4_reads_what_we_write(tmp_path: Path) -> None:
    old_file(tmp_path / "old.nir", "1.0.4")
    assert main([str(tmp_path / "old.nir"), "--emit", "nir", "-o", str(tmp_path / "back.nir")]) == 0
    code = ("import sys, nir; g = nir.read(sys.argv[1]); "
            "print(nir.version, sorted(type(n).__name__ for n in g.nodes.values()))")
    r = subprocess.run([os.environ["NIR_104_PYTHON"], "-c", code, str(tmp_path / "back.nir")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "1.0.4" and "'CubaLIF'" in r.stdout and "'IF'" in r.stdout


def test_dt_against_tau(tmp_path: Path) -> None:
    g = recurrent_cuba_graph()
    g.nodes["lif"].tau[:] = 5e-5  # dt = 1e-4 is 2 x tau
    nir.write(str(tmp_path / "fast.nir"), g)
    with pytest.warns(TimeStepWarning, match=r"node 'lif' \(neuron.lif_ct\): dt = 0.0001 s is 2 x its smallest tau"):
        load_nir(tmp_path / "fast.nir")
    g.nodes["lif"].tau[0] = 0.0
    nir.write(str(tmp_path / "zero.nir"), g)
    with pytest.raises(SbirError, match=r"node 'lif' \(LIF\): tau must be positive, got 0"):
        load_nir(tmp_path / "zero.nir")
