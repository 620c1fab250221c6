"""The Python API: compile a path, a preset, a SpikingBrain model object and a NIR graph; run;
save and load back with identical logits; the CLI gives what the API gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import sbcompile
from sbcompile.cli import main
from sbcompile.ir import SbirError, print_module
from sbcompile.ir.interpreter import Interpreter
from sbcompile.models import PRESETS, SpikeOptions, build_model
from sbcompile.models.loading import load_model

ROOT = Path(__file__).parents[2]
TINY = ROOT / "examples" / "tiny"
NIR = ROOT / "examples" / "nir"
PROMPT = "def main("


@pytest.fixture(scope="module")
def tiny() -> sbcompile.Artifact:
    return sbcompile.compile(str(TINY), calib=False)


def test_compile_a_path_and_run(tiny: sbcompile.Artifact) -> None:
    res = tiny.run(text=PROMPT, generate=5)
    prompt = np.frombuffer(PROMPT.encode(), np.uint8).astype(np.int32)
    assert res.logits.shape == (len(prompt) + 4, 256) and res.tokens.shape == (5,)
    np.testing.assert_array_equal(res.prompt, prompt)
    # the prefill rows are the interpreter's on the compiled module; greedy picks each row's argmax
    np.testing.assert_array_equal(res.logits[: len(prompt)], Interpreter(tiny.module)(input_ids=prompt)[0])
    np.testing.assert_array_equal(res.tokens, res.logits[len(prompt) - 1:].argmax(axis=1))
    assert res.text == bytes(res.tokens.tolist()).decode("utf-8", errors="replace")
    assert 0 < res.stats["total"]["sparsity"] < 1 and res.stats["ops"]
    assert tiny.report["target"] == "ref" and tiny.report["params"] == 860480


def test_sampling_is_seeded_and_stops(tiny: sbcompile.Artifact) -> None:
    a = tiny.run(text=PROMPT, generate=12, temperature=1.0, top_k=5, seed=7)
    b = tiny.run(text=PROMPT, generate=12, temperature=1.0, top_k=5, seed=7)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    # every sampled token is among the 5 likeliest of the logits it was drawn from
    rows = a.logits[len(PROMPT) - 1:]
    for row, tok in zip(rows, a.tokens):
        assert tok in np.argsort(-row)[:5]
    first = bytes(a.tokens[:3].tolist()).decode("latin-1")
    stopped = tiny.run(text=PROMPT, generate=12, temperature=1.0, top_k=5, seed=7, stop=first)
    assert len(stopped.tokens) <= 3 and stopped.text == ""


def test_save_and_load_give_identical_logits(tiny: sbcompile.Artifact, tmp_path: Path) -> None:
    before = tiny.run(text=PROMPT, generate=3)
    out = tiny.save(tmp_path / "art")
    assert tiny.directory == out and {"module.sbir", "weights.safetensors", "report.json", "report.md"} <= set(tiny.files())
    back = sbcompile.load(out)
    after = back.run(text=PROMPT, generate=3)
    np.testing.assert_array_equal(before.logits, after.logits)
    np.testing.assert_array_equal(before.tokens, after.tokens)
    assert back.target == "ref" and back.report == tiny.report
    with pytest.raises(SbirError, match="not an sbcompile output directory"):
        sbcompile.load(tmp_path)


def test_model_object_in_memory_equals_its_checkpoint(tiny: sbcompile.Artifact) -> None:
    art = sbcompile.compile(load_model(TINY), calib=False)
    tokens = np.frombuffer(b"import os\n", np.uint8)
    np.testing.assert_array_equal(art.run(tokens=tokens).logits, tiny.run(tokens=tokens).logits)


def test_model_object_built_in_python_matches_pytorch() -> None:
    torch.manual_seed(0)
    model = build_model(PRESETS["spikingbrain-tiny"], SpikeOptions(enabled=False)).eval()
    art = sbcompile.compile(model)
    assert art.module.attrs["spiking"] is False
    tokens = np.arange(5, 29, dtype=np.int32)
    with torch.no_grad():
        want = model(torch.from_numpy(tokens).long()[None])[0][0].numpy()
    got = art.run(tokens=tokens).logits
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-4


def test_preset_compiles_shape_only() -> None:
    art = sbcompile.compile("spikingbrain-tiny", target="loihi2")
    assert art.module.weights.has_fake and art.report["cores_used"] > 0
    assert "calibrate" not in art.report["pipeline"]  # nothing to calibrate on, no weights to run


def test_nir_graph_in_memory_equals_snntorch(tmp_path: Path) -> None:
    import nir

    graph = nir.read(str(NIR / "net.nir"))
    x = np.load(NIR / "inputs.npy")
    want = np.load(NIR / "snntorch_out.npy")
    res = sbcompile.compile(graph).run(inputs=x)
    np.testing.assert_array_equal(res.outputs, want)
    assert res.stats["steps"] == len(x) and res.stats["total"]["zero_fraction"] < 1
    on_lava = sbcompile.compile(graph, target="loihi2").run(inputs=x)  # saved to a scratch directory first
    np.testing.assert_array_equal(on_lava.outputs, want)
    assert on_lava.stats["ops"] == res.stats["ops"]  # Lava's LIFs: the interpreter's count, said so
    assert "reference interpreter" in on_lava.stats["source"]


def test_bad_arguments_are_one_clear_error(tiny: sbcompile.Artifact) -> None:
    with pytest.raises(SbirError, match="has no option 'warp'"):
        sbcompile.compile(str(TINY), warp=9)
    with pytest.raises(SbirError, match="takes a path, a preset name"):
        sbcompile.compile(torch.nn.Linear(2, 2))
    with pytest.raises(SbirError, match="unknown target 'tpu'"):
        sbcompile.compile(str(TINY), target="tpu")
    with pytest.raises(SbirError, match="one of them"):
        tiny.run(text="a", tokens=[1])
    with pytest.raises(SbirError, match="--temperature"):
        tiny.run(text="a", generate=2, temperature=-1)


def test_cli_is_the_api(tiny: sbcompile.Artifact, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(TINY), "--no-calib", "-o", str(tmp_path / "cli")]) == 0
    err = capsys.readouterr().err
    assert "wrote" in err and "report.md" in err and "module.sbir" in err
    assert (tmp_path / "cli" / "module.sbir").read_text() == print_module(tiny.module)
    assert main(["run", str(tmp_path / "cli"), "--text", PROMPT, "--generate", "4", "--save-logits",
                 str(tmp_path / "l.npy")]) == 0
    out = capsys.readouterr().out
    res = tiny.run(text=PROMPT, generate=4)
    assert out == PROMPT + res.text + "\n"  # the prompt echoed, then what was generated
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), res.logits)
    assert main(["run", str(tmp_path / "cli"), "--text", PROMPT]) == 0
    best = bytes([int(res.logits[len(PROMPT) - 1].argmax())]).decode()
    assert capsys.readouterr().out.startswith(f"next token after {len(PROMPT)} prompt tokens: {best!r} ")
