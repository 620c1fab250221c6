"""Bad checkpoints, configs, weight stores and pickles: one line naming the file and what is
wrong, before anything is written; malicious pickles never run without --trust-pickle."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from sbcompile.cli import main
from tests.robustness.helpers import fails_with

ROOT = Path(__file__).parents[2]
TINY = ROOT / "examples" / "tiny"
CONFIG = json.loads((TINY / "config.json").read_text())


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    """A copy of the tiny checkpoint (config.json and model.safetensors) to spoil."""
    out = tmp_path / "ckpt"
    out.mkdir()
    shutil.copy(TINY / "config.json", out)
    shutil.copy(TINY / "model.safetensors", out)
    return out


def test_truncated_and_corrupt_safetensors(ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = (ckpt / "model.safetensors").read_bytes()
    (ckpt / "model.safetensors").write_bytes(data[: len(data) // 2])
    fails_with(capsys, [str(ckpt)], "model.safetensors: not a readable safetensors file")
    (ckpt / "model.safetensors").write_bytes(b"\xff" * 64)
    fails_with(capsys, [str(ckpt)], "model.safetensors: not a readable safetensors file")


@pytest.mark.parametrize("change, needle", [
    ([1, 2], "config.json: the config must be a JSON object of fields, got list"),
    ({"hidden_size": 0}, "hidden_size: Input should be greater than or equal to 1, got 0"),
    ({"num_attention_heads": 0}, "num_attention_heads: Input should be greater than or equal to 1, got 0"),
    ({"num_hidden_layers": -1}, "num_hidden_layers: Input should be greater than or equal to 1, got -1"),
    ({"vocab_size": 10**12}, "vocab_size: Input should be less than or equal to 16777216"),
    ({"rope_theta": math.nan}, "rope_theta: Input should be a finite number"),
    ({"norm_eps": -1e-6}, "norm_eps: Input should be greater than 0"),
    ({"num_attention_heads": 3}, "hidden_size 128 is not a multiple of num_attention_heads 3"),
    ({"attn_layers": [9]}, "attn_layers [9] lie outside the layers 0..3"),
])
def test_invalid_configs(ckpt: Path, capsys: pytest.CaptureFixture[str], change: object, needle: str) -> None:
    data = change if not isinstance(change, dict) else {**CONFIG, **change}
    (ckpt / "config.json").write_text(json.dumps(data))
    line = fails_with(capsys, [str(ckpt)], needle)
    assert "config.json" in line
    fails_with(capsys, [str(TINY), "--config", str(ckpt / "config.json")], needle)


def test_pt_with_invalid_config_dict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save({"config": {**CONFIG, "num_key_value_heads": 0}, "state_dict": {"w": torch.zeros(2)}}, tmp_path / "m.pt")
    fails_with(capsys, [str(tmp_path / "m.pt")], "m.pt: 'config': num_key_value_heads: Input should be greater than or equal to 1")
    torch.save({"config": "big", "state_dict": {"w": torch.zeros(2)}}, tmp_path / "s.pt")
    fails_with(capsys, [str(tmp_path / "s.pt")], "s.pt: 'config': the config must be a JSON object of fields, got str")


def test_shard_outside_the_checkpoint_is_refused(ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (ckpt / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "../../../../etc/hostname"}}))
    fails_with(capsys, [str(ckpt)], "shard '../../../../etc/hostname' lies outside the checkpoint folder; refused")
    (ckpt / "model.safetensors.index.json").write_text(json.dumps({"weight_map": [1]}))
    fails_with(capsys, [str(ckpt)], "weight_map must map tensor names to shard file names")


def test_nan_weight_refused_naming_the_tensor(ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from safetensors.numpy import load_file

    tensors = load_file(str(ckpt / "model.safetensors"))
    tensors["model.layers.1.mlp.up_proj.weight"][3, 5] = np.inf
    tensors["model.layers.1.mlp.up_proj.weight"][0, 0] = np.nan
    save_file(tensors, str(ckpt / "model.safetensors"))
    fails_with(capsys, [str(ckpt), "-o", str(tmp_path / "out")],
               "model.safetensors: tensor 'model.layers.1.mlp.up_proj.weight' holds 2 NaN or infinite values")
    assert not (tmp_path / "out").exists()


def test_bare_state_dict_names_the_defaulted_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from safetensors.torch import load_file

    torch.save(load_file(str(TINY / "model.safetensors")), tmp_path / "bare.pt")
    assert main([str(tmp_path / "bare.pt"), "--emit", "ir", "-o", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "sbcompile: warning: " in err and "bare.pt: no config; inferred vocab_size, hidden_size" in err
    assert "rope_theta=1000000.0, sliding_window=4096" in err and "are defaults that shapes cannot tell" in err


def _store(tmp_path: Path, meta: str) -> Path:
    (tmp_path / "m.sbir").write_text((ROOT / "examples" / "lif_network.sbir").read_text())
    save_file({"fc1.weight": np.ones((8, 16), np.float32)}, str(tmp_path / "m.safetensors"), metadata={"sbcompile": meta})
    return tmp_path / "m.sbir"


@pytest.mark.parametrize("meta, needle", [
    ("{not json", "m.safetensors: its 'sbcompile' metadata is not JSON"),
    ('{"order": ["fc1.weight", "ghost"]}', "m.safetensors: metadata 'order' names 'ghost', which the file does not hold"),
    ('{"fake": {"x": 3}}', "m.safetensors: fake weight 'x' must be [shape, dtype], got 3"),
    ('[1]', "its 'sbcompile' metadata must be an object"),
])
def test_weight_store_metadata_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], meta: str, needle: str) -> None:
    fails_with(capsys, [str(_store(tmp_path, meta))], needle)


def test_weight_missing_from_the_store_is_found_by_the_verifier(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _store(tmp_path, "{}")
    path.write_text(path.read_text().replace('"fc1.weight"', '"fc9.weight"'))
    fails_with(capsys, [str(path)], "m.sbir:6:3: error: syn.dense (%i1): weight 'fc9.weight' is not in the module's weight store")


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_runs_only_with_trust(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pickle

    marker = tmp_path / "pwned"
    torch.save({"state_dict": _Evil(marker)}, tmp_path / "evil.pt")
    with open(tmp_path / "plain.pt", "wb") as f:
        pickle.dump(_Evil(marker), f)
    for name in ("evil.pt", "plain.pt"):
        line = fails_with(capsys, [str(tmp_path / name)], f"{name}: holds pickled Python objects")
        assert "pass --trust-pickle if you trust this file" in line and "weights_only" not in line
    assert not marker.exists()
    fails_with(capsys, [str(tmp_path / "evil.pt"), "--trust-pickle"], "expected a state dict")
    assert marker.exists()  # the consent was real: the pickle was loaded in full
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    fails_with(capsys, [str(tmp_path / "junk.pt")], "junk.pt: cannot read (neither a torch checkpoint nor a pickle)")


def test_nir_input_with_negative_dimension(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import nir

    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([-3])}),
                                "output": nir.Output(output_type={"output": np.array([-3])})},
                         edges=[("input", "output")], type_check=False)
    nir.write(str(tmp_path / "neg.nir"), graph)
    fails_with(capsys, [str(tmp_path / "neg.nir")], "neg.nir: node 'input' (Input): bad dimension -3 in a type")


def test_bad_pt2_archives_print_no_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys
    import zipfile

    (tmp_path / "junk.pt2").write_bytes(b"x")
    with zipfile.ZipFile(tmp_path / "empty.pt2", "w") as z:
        z.writestr("a/b.txt", "x")
    for name, why in (("junk.pt2", "not a zip file"), ("empty.pt2", "no exported program in it")):
        r = subprocess.run([sys.executable, "-m", "sbcompile", str(tmp_path / name)], capture_output=True, text=True)
        assert r.returncode == 1 and r.stderr == f"sbcompile: error: {tmp_path / name}: not a torch.export archive ({why})\n"


@pytest.mark.parametrize("case, needle", [
    ("nan_weight", "nan_weight.nir: node 'fc' (Linear): weight 'fc.weight' holds 6 NaN or infinite values"),
    ("huge_dim", "huge_dim.nir: node 'input' (Input): bad dimension 1000000000000 in a type: expected an integer in 0..2147483647"),
    ("wrong_shape", "wrong_shape.nir: syn.dense (%fc): weight 'fc.weight' has shape [2, 4], expected [2, 3]"),
])
def test_bad_nir_graphs(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, needle: str) -> None:
    import nir

    width = 10**12 if case == "huge_dim" else 3
    weight = np.full((2, 3), np.nan) if case == "nan_weight" else np.ones((2, 4 if case == "wrong_shape" else 3))
    nodes = {"input": nir.Input(input_type={"input": np.array([width])}), "fc": nir.Linear(weight=weight),
             "output": nir.Output(output_type={"output": np.array([2])})}
    nir.write(str(tmp_path / f"{case}.nir"), nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "output")],
                                                          type_check=False))
    fails_with(capsys, [str(tmp_path / f"{case}.nir"), "-o", str(tmp_path / "out")], needle)
    assert not (tmp_path / "out").exists()


def test_nan_in_a_weights_file_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "m.sbir").write_text((ROOT / "examples" / "lif_network.sbir").read_text())
    save_file({"fc1.weight": np.full((8, 16), np.nan, np.float32)}, str(tmp_path / "m.safetensors"))
    fails_with(capsys, [str(tmp_path / "m.sbir"), "-o", str(tmp_path / "o")], "m.safetensors: weight 'fc1.weight' holds 128 NaN")
