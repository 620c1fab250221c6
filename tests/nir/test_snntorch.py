"""Acceptance: networks exported to NIR by snnTorch, compiled with `sbcompile NET.nir -t ref` and
run with `sbcompile run --inputs`, give the spikes of snnTorch's own simulation.

Discretisation: forward Euler with dt = 1e-4, the step snnTorch's exporter assumes (it writes
tau = dt / (1 - beta), r = tau / dt), so v <- v + (dt / tau)((v_leak - v) + r I) is snnTorch's
v <- beta v + I up to float32 rounding of 1 - dt / tau. Reset: snnTorch's reset_mechanism="zero",
the semantics NIR's v_reset states. Tolerance: none: every output spike of every step equal
(measured: 0 mismatches; the conv net fires 64-76 output spikes per 50-step run, the LIF net
23-80)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")
pytest.importorskip("snntorch")

from sbcompile.cli import main  # noqa: E402

from . import snntorch_nets as S  # noqa: E402

STEPS = 50


@pytest.mark.parametrize("make", [S.conv_net, S.lif_net], ids=["conv", "lif"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ref_spikes_equal_snntorch(make, seed: int, tmp_path: Path) -> None:
    net, shape = make(seed)
    nir.write(str(tmp_path / "net.nir"), S.export(net, shape))
    x = (np.random.default_rng(seed).random((STEPS, *shape)) < 0.5).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main([str(tmp_path / "net.nir"), "-t", "ref", "-o", str(tmp_path / "out")]) == 0
    assert main(["run", str(tmp_path / "out"), "--inputs", str(tmp_path / "x.npy"),
                 "--save-outputs", str(tmp_path / "y.npy")]) == 0
    ours = np.load(tmp_path / "y.npy")
    theirs = S.simulate(net, x)
    assert ours.shape == theirs.shape
    assert theirs.sum() > 0  # the comparison is not vacuous
    mismatches = int((ours != theirs).sum())
    assert mismatches == 0, f"{mismatches} of {theirs.size} output spikes differ"


def test_emit_nir_writes_the_graph_back(tmp_path: Path) -> None:
    net, shape = S.lif_net()
    nir.write(str(tmp_path / "net.nir"), S.export(net, shape))
    assert main([str(tmp_path / "net.nir"), "--emit", "nir", "-o", str(tmp_path / "back.nir")]) == 0
    assert main([str(tmp_path / "net.nir"), "--emit", "nir", "-o", str(tmp_path / "out")]) == 0
    for path in (tmp_path / "back.nir", tmp_path / "out" / "module.nir"):
        g = nir.read(str(path))
        assert sorted(type(n).__name__ for n in g.nodes.values()) == ["Affine", "Affine", "Input", "LIF", "LIF", "Output"]
