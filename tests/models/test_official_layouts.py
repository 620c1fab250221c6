"""Checkpoints in both official layouts (base: low-rank gate; W8ASpike: full-rank gate and stored
weight scales), compiled by `sbcompile CKPT` and run by `sbcompile run`, against the release's
equations (tests/models/release.py) on random weights, in float and spiking modes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sbcompile.cli import main
from sbcompile.models.loading import CheckpointError, load_model, read_checkpoint

from . import release

IDS = [3, 141, 59, 26, 53, 58, 97, 93, 238, 46, 26, 43, 38, 32, 79, 50, 28, 84, 197, 169]
WINDOW = 5  # keys a query sees; the release's flash-attn prefill with sliding_window = WINDOW - 1


def compile_and_run(ckpt: Path, tmp_path: Path, *options: str, passes: str | None = None) -> tuple[np.ndarray, dict]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    out, toks, saved = tmp_path / "out", tmp_path / "ids.txt", tmp_path / "logits.npy"
    toks.write_text(" ".join(map(str, IDS)))
    argv = [str(ckpt), "-o", str(out), *options] + (["--passes", passes] if passes else [])
    assert main(argv) == 0
    assert main(["run", str(out), "--tokens", str(toks), "--save-logits", str(saved)]) == 0
    return np.load(saved), json.loads((out / "report.json").read_text())


def rel_error(got: np.ndarray, want: torch.Tensor) -> float:
    want = want.detach().numpy()
    return float(np.abs(got - want).max() / np.abs(want).max())


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict, release.Tensors]]:
    root = tmp_path_factory.mktemp("official")
    cfg = release.official_config(window=WINDOW)
    made = {}
    for layout, seed in (("base", 1), ("w8aspike", 2)):
        tensors = release.random_checkpoint(cfg, layout, seed, outside=0.25)
        made[layout] = (release.write_checkpoint(root / layout, cfg, tensors), cfg, tensors)
    return made


@pytest.mark.parametrize("layout", ["base", "w8aspike"])
@pytest.mark.parametrize("spiking", [False, True], ids=["float", "spiking"])
def test_logits_match_the_release(checkpoints: dict, layout: str, spiking: bool, tmp_path: Path) -> None:
    ckpt, cfg, tensors = checkpoints[layout]
    got, report = compile_and_run(ckpt, tmp_path, "--spiking" if spiking else "--no-spiking")
    want = release.logits(tensors, cfg, IDS, spiking, flash_window=WINDOW - 1)
    assert got.shape == tuple(want.shape)
    assert rel_error(got, want) < (1e-3 if spiking else 1e-5)
    assert report["layout"] == layout


def test_w8aspike_codes_outside_int8_are_kept_and_counted(checkpoints: dict, tmp_path: Path) -> None:
    ckpt, cfg, tensors = checkpoints["w8aspike"]
    outside = 0
    for name, scales in tensors.items():
        if name.endswith(".weight_quantizer.scales") and ".down_proj." not in name:
            w = tensors[name.replace("weight_quantizer.scales", "weight")]
            outside += int(((w.reshape(w.shape[0], -1, 128) / scales).round().abs() > 127).sum())
    assert outside > 100  # the scales put some codes outside int8
    _, report = compile_and_run(ckpt, tmp_path, "--emit", "artifact")
    assert report["codes_outside_int8"] == outside
    # the quantize pass adopts the stored scales; its overflow policy decides what the codes become
    want = release.logits(tensors, cfg, IDS, True, flash_window=WINDOW - 1)
    for policy, close in (("residual", True), ("clamp", False)):
        got, report = compile_and_run(ckpt, tmp_path / policy, passes=f"quantize{{overflow={policy}}}")
        ops = report["quantize"]["ops"]
        assert {op["scales"] for op in ops.values()} == {"stored"} and {op["policy"] for op in ops.values()} == {policy}
        assert sum(op["overflow"] for op in ops.values()) == outside
        assert len(ops) == 7 * 2 + 6 * 2  # q, k, v, o, gate, up in every layer and gk in GLA layers: not down_proj
        assert (rel_error(got, want) < 1e-3) == close


def test_pytorch_model_loads_both_layouts(checkpoints: dict) -> None:
    for layout in ("base", "w8aspike"):
        ckpt, cfg, tensors = checkpoints[layout]
        model = load_model(ckpt)
        with torch.no_grad():
            got = model(torch.tensor(IDS))[0]
        want = release.logits(tensors, cfg, IDS, True, flash_window=WINDOW - 1)
        assert rel_error(got.numpy(), want) < 1e-3


def test_layout_comes_from_the_tensors(checkpoints: dict) -> None:
    base, _ = read_checkpoint(checkpoints["base"][0])
    w8, _ = read_checkpoint(checkpoints["w8aspike"][0])
    assert (base.gate_low_rank_dim, base.quant_weight_group_size) == (8, None)
    assert (w8.gate_low_rank_dim, w8.quant_weight_group_size) == (None, 128)


def test_layout_of_a_bare_state_dict(checkpoints: dict, tmp_path: Path) -> None:
    torch.save(checkpoints["w8aspike"][2], tmp_path / "w8.pt")
    cfg, _ = read_checkpoint(tmp_path / "w8.pt")  # no config at all: shapes say everything
    assert (cfg.gate_low_rank_dim, cfg.quant_weight_group_size, cfg.swa_layers()) == (None, 128, [1, 3])


def test_spiking_inside_the_low_rank_gate_is_an_option(checkpoints: dict) -> None:
    """The former default spike-codes the rank-r intermediate too: further from the release."""
    from sbcompile.models import SpikeOptions

    ckpt, cfg, tensors = checkpoints["base"]
    want = release.logits(tensors, cfg, IDS, True, flash_window=WINDOW - 1)
    errors = {}
    for inner in (False, True):
        with torch.no_grad():
            got = load_model(ckpt, SpikeOptions(spike_gate_inner=inner))(torch.tensor(IDS))[0]
        errors[inner] = rel_error(got.numpy(), want)
    assert errors[False] < 1e-3 < errors[True]


def test_tied_embeddings_are_honoured(tmp_path: Path) -> None:
    cfg = release.official_config(window=WINDOW, tie_word_embeddings=True, layers=2)
    tensors = release.random_checkpoint(cfg, "base", 3)
    assert "lm_head.weight" not in tensors
    got, _ = compile_and_run(release.write_checkpoint(tmp_path / "tied", cfg, tensors), tmp_path, "--no-spiking")
    assert rel_error(got, release.logits(tensors, cfg, IDS, False, flash_window=WINDOW - 1)) < 1e-5


@pytest.mark.parametrize("key,value", [("use_short_conv", True), ("hidden_act", "gelu"), ("elementwise_affine", False)])
def test_config_keys_not_supported_are_refused_by_name(key: str, value: object, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    cfg = release.official_config(layers=2, **{key: value})
    ckpt = release.write_checkpoint(tmp_path / "ckpt", cfg, release.random_checkpoint(cfg, "base", 4))
    with pytest.raises(CheckpointError, match=f"config key {key}="):
        read_checkpoint(ckpt)
    assert main([str(ckpt), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and key in err and not (tmp_path / "out").exists()


def test_malformed_stored_scales_name_the_tensor(tmp_path: Path) -> None:
    cfg = release.official_config(layers=2)
    tensors = release.random_checkpoint(cfg, "w8aspike", 5)
    tensors["model.layers.0.attn.q_proj.weight_quantizer.scales"] = torch.ones(256, 3, 1)
    with pytest.raises(CheckpointError, match=r"'model.layers.0.attn.q_proj.weight_quantizer.scales' has shape \[256, 3, 1\]"):
        read_checkpoint(release.write_checkpoint(tmp_path / "bad", cfg, tensors))


@pytest.mark.parametrize("layout", ["base", "w8aspike"])
def test_loihi2_on_lava_equals_reference(checkpoints: dict, layout: str, tmp_path: Path) -> None:
    """Lava runs host ops one token at a time, the interpreter a whole prefill: the low-rank
    gate's float W_g2 (and the LM head) must not depend on that, or a rounding tie downstream
    flips a spike count. The W8ASpike codes outside int8 are clipped there (quantize's clamp)."""
    pytest.importorskip("lava", reason="Lava is not installed")
    out, toks = tmp_path / "l2", tmp_path / "ids.txt"
    toks.write_text(" ".join(map(str, IDS[:6])))
    assert main([str(checkpoints[layout][0]), "-t", "loihi2", "-o", str(out)]) == 0
    for target in ("loihi2", "ref"):
        assert main(["run", str(out), "--target", target, "--tokens", str(toks), "--save-logits",
                     str(tmp_path / f"{target}.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "loihi2.npy"), np.load(tmp_path / "ref.npy"))
