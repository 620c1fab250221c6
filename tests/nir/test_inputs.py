"""`sbcompile run --inputs` checks the array against the module's input type and says what it expected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from sbcompile.cli import main  # noqa: E402

from .test_recurrent import recurrent_cuba_graph  # noqa: E402


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_wrong_input_shape_is_one_line(tmp_path: Path, capsys) -> None:
    nir.write(str(tmp_path / "net.nir"), recurrent_cuba_graph())
    assert main([str(tmp_path / "net.nir"), "-o", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    for bad in (np.zeros((10, 6), np.float32), np.zeros((10, 1, 5), np.float32), np.zeros(5, np.float32)):
        np.save(tmp_path / "x.npy", bad)
        assert main(["run", str(tmp_path / "out"), "--inputs", str(tmp_path / "x.npy")]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"input 'in' of module @net is tensor<[seq, 5], f32>: expected an array [time, 5], got {list(bad.shape)}" in err
    np.save(tmp_path / "x.npy", np.zeros((10, 5), np.int8))  # numbers of any dtype are cast
    assert main(["run", str(tmp_path / "out"), "--inputs", str(tmp_path / "x.npy")]) == 0
