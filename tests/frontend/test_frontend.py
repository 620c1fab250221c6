"""The frontend: presets, checkpoints and generic modules traced into sbir with model-level ops,
readable names and source locations; unsupported ops all listed in one error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest
import torch

from sbcompile.cli import main
from sbcompile.frontend import FrontendOptions, load
from sbcompile.frontend.spikingbrain import trace_torch
from sbcompile.ir import SbirError, parse, print_module, tensor, verify
from sbcompile.models import PRESETS, build_model
from sbcompile.models.loading import save_hf, save_pt, save_pt2
from sbcompile.models.norm import RMSNorm
from sbcompile.models.spiking import SpikeEncoder

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_round_trip_and_verify(preset: str) -> None:
    m = load(preset)
    verify(m)
    text = print_module(m)
    assert parse(text) == m and print_module(parse(text)) == text
    assert m.weights.has_fake
    counts = {op.name for op in m.ops}
    assert {"seq.gla", "spike.encode", "syn.dense", "seq.window_attention"} <= counts
    assert all(op.loc is not None and op.loc.file.startswith("sbcompile/models/") for op in m.ops if op.name != "io.input")


def test_value_names_follow_module_paths() -> None:
    names = {v.name for v in load("spikingbrain-tiny").values()}
    assert {"layers_0_attn_q_proj", "layers_0_attn_q_proj_spikes", "layers_0_attn_core", "layers_1_attn_core",
            "layers_3_mlp_down_proj", "lm_head", "embeddings"} <= names


def test_no_spiking_traces_the_float_model() -> None:
    m = load("spikingbrain-tiny", FrontendOptions(spiking=False))
    assert "spike.encode" not in {op.name for op in m.ops} and m.attrs["spiking"] is False
    k = load("spikingbrain-tiny", FrontendOptions(k=2.5))
    assert {op.params.k for op in k.ops if op.name == "spike.encode"} == {2.5}


def small(layers_swa: list[int], n: int = 1):
    return PRESETS["spikingbrain-tiny"].model_copy(update=dict(
        num_hidden_layers=n, hidden_size=16, num_attention_heads=2, num_key_value_heads=1, intermediate_size=24,
        vocab_size=256, attn_layers=layers_swa, gate_low_rank_dim=4, sliding_window=8))


@pytest.mark.parametrize("kind, swa", [("gla_block", []), ("swa_block", [0])])
def test_golden_one_layer_blocks(kind: str, swa: list[int], tmp_path: Path, golden: Callable[[Path, str], None]) -> None:
    model = build_model(small(swa))
    save_hf(model, tmp_path / kind)
    golden(GOLDEN / f"{kind}.sbir", print_module(load(str(tmp_path / kind))))


def test_checkpoint_kinds_give_the_same_module(tmp_path: Path) -> None:
    model = build_model(small([1], n=2)).eval()
    save_hf(model, tmp_path / "hf")
    save_pt(model, tmp_path / "m.pt")
    save_pt2(model, tmp_path / "m.pt2")
    mods = [load(str(tmp_path / p)) for p in ("hf", "m.pt", "m.pt2")]
    texts = [print_module(m).split("{", 1)[1] for m in mods]  # module names differ
    assert texts[0] == texts[1] == texts[2]
    w = mods[0].weights.get("model.layers.0.attn.q_proj.weight")
    assert (w == model.model.layers[0].attn.q_proj.weight.detach().numpy()).all()


def test_generic_module_traces() -> None:
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.act, self.norm = torch.nn.Linear(8, 16), torch.nn.SiLU(), RMSNorm(16)
            self.enc, self.fc2 = SpikeEncoder(2.0), torch.nn.Linear(16, 4, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.norm(self.act(self.fc1(x)))
            return self.fc2(self.enc(h)) * 0.5 + torch.relu(self.fc2(h))

    m = trace_torch(Net(), {"x": tensor(["seq", 8])}, "net")
    verify(m)
    assert [op.name for op in m.ops] == ["io.input", "syn.dense", "nn.silu", "nn.rmsnorm", "spike.encode", "spike.decode",
                                         "syn.dense", "nn.scale", "syn.dense", "nn.relu", "nn.add"]


def test_unsupported_ops_are_all_listed() -> None:
    class Bad(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(4, 4)
            self.conv = torch.nn.Conv1d(1, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.cumsum(self.fc(x), -1)
            return y + x.transpose(0, 1) + self.conv(x)

    with pytest.raises(SbirError) as e:
        trace_torch(Bad(), {"x": tensor(["seq", 4])}, "bad")
    msg = str(e.value)
    assert msg.startswith("3 unsupported ops in Bad: ")
    assert "function 'cumsum' in <top> at tests/frontend/test_frontend.py:" in msg
    assert "method 'transpose' in <top> at tests/frontend/test_frontend.py:" in msg and "function 'conv1d' in conv" in msg


def test_7b_compiles_with_report(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main(["spikingbrain-7b", "--emit", "ir", "-o", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["params"] == 7_616_542_976 and report["spiking"] is True and report["k"] == 3.0
    assert report["ops"]["seq.gla"] == 14 and report["ops"]["seq.window_attention"] == 14
    assert {"frontend", "emit"} <= set(report["timings"])


def test_bad_inputs_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spikingbrain-9b"]) == 1
    assert "spikingbrain-9b: no such file or directory (nor a preset: " in capsys.readouterr().err
    (tmp_path / "x.pt").write_bytes(b"junk")
    assert main([str(tmp_path / "x.pt")]) == 1
    err = capsys.readouterr().err.strip()
    assert "x.pt: cannot read" in err and len(err.splitlines()) == 1
