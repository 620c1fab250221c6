"""Whole models: decoding token by token equals prefill, the 7B preset's parameter count,
fx-traceability with the leaf modules, and checkpoints saved and loaded in every format."""

from __future__ import annotations

import operator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sbcompile.models import LEAF_MODULES, PRESETS, SpikeOptions, SpikingBrainConfig, build_model
from sbcompile.models.loading import CheckpointError, load_model, read_checkpoint, save_hf, save_pt, save_pt2

SMALL_7B = PRESETS["spikingbrain-tiny"].model_copy(update=dict(hidden_size=32, intermediate_size=48, sliding_window=5))
SMALL_76B = PRESETS["spikingbrain-76b"].model_copy(update=dict(
    vocab_size=64, hidden_size=32, num_hidden_layers=8, num_attention_heads=4, num_key_value_heads=2,
    intermediate_size=48, sliding_window=5, num_experts=4, full_attn_layers=[7], dense_ffn_layers=[1, 2]))


@pytest.mark.parametrize("cfg", [SMALL_7B, SMALL_76B], ids=["7b-kind", "76b-kind"])
@pytest.mark.parametrize("spiking", [False, True])
def test_decode_equals_prefill(cfg: SpikingBrainConfig, spiking: bool) -> None:
    torch.manual_seed(1)
    m = build_model(cfg, SpikeOptions(enabled=spiking)).eval()
    ids = torch.randint(0, cfg.vocab_size, (1, 30))
    with torch.no_grad():
        full, _ = m(ids)
        state = m.new_state()
        rows = [m(ids[:, :20], state)[0]] + [m(ids[:, i:i + 1], state)[0] for i in range(20, 30)]
    torch.testing.assert_close(torch.cat(rows, 1), full, rtol=1e-4, atol=1e-4)


def test_7b_preset_parameter_count() -> None:
    m = build_model(PRESETS["spikingbrain-7b"], device="meta")
    assert sum(p.numel() for p in m.parameters()) == 7_616_542_976
    names = dict(m.named_parameters())
    for n in ("model.embeddings.weight", "model.layers.0.attn.gk_proj.0.weight", "model.layers.0.attn.gk_proj.1.bias",
              "model.layers.0.attn.g_norm.weight", "model.layers.1.attn.q_proj.bias", "model.layers.27.mlp.down_proj.weight",
              "model.norm.weight", "lm_head.weight"):
        assert n in names, n


def test_76b_preset_is_about_76b_with_12b_active() -> None:
    cfg = PRESETS["spikingbrain-76b"]
    total = sum(p.numel() for p in build_model(cfg, device="meta").parameters())
    expert = 3 * cfg.hidden_size * cfg.intermediate_size
    moe_layers = cfg.num_hidden_layers - len(cfg.dense_ffn_layers)
    active = total - moe_layers * (cfg.num_experts - cfg.num_experts_per_tok) * expert
    assert 76e9 < total < 77e9 and 12e9 < active < 13e9


@pytest.mark.parametrize("cfg", [SMALL_7B, SMALL_76B], ids=["7b-kind", "76b-kind"])
def test_fx_traceable_with_leaves(cfg: SpikingBrainConfig) -> None:
    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m: torch.nn.Module, name: str) -> bool:
            return isinstance(m, LEAF_MODULES)

    graph = Tracer().trace(build_model(cfg, device="meta"), concrete_args={"state": None})
    allowed = {F.relu, F.silu, F.logsigmoid, torch.sigmoid, operator.add, operator.mul, operator.truediv,
               operator.neg, operator.getitem}
    funcs = {n.target for n in graph.nodes if n.op == "call_function" and n.target.__name__ != "_assert_is_none"}
    assert funcs <= allowed, funcs - allowed
    assert not [n for n in graph.nodes if n.op == "call_method"]


def _same(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_save_load_every_format(tmp_path: Path) -> None:
    torch.manual_seed(2)
    m = build_model(SMALL_7B).eval()
    save_hf(m, tmp_path / "hf")
    save_hf(m, tmp_path / "sharded", shard_bytes=20_000)
    save_pt(m, tmp_path / "m.pt")
    torch.save(m.state_dict(), tmp_path / "bare.pt")
    save_pt2(m, tmp_path / "m.pt2")
    assert len(list((tmp_path / "sharded").glob("*.safetensors"))) > 1
    for src in ("hf", "sharded", "m.pt", "bare.pt", "m.pt2"):
        back = load_model(tmp_path / src)
        _same(m, back)
        assert back.config.num_hidden_layers == SMALL_7B.num_hidden_layers
    cfg, _ = read_checkpoint(tmp_path / "bare.pt")  # inferred from shapes
    assert (cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.swa_layers()) == (32, 4, 2, [1, 3])


def test_pickled_module_is_refused_unless_trusted(tmp_path: Path) -> None:
    m = build_model(SMALL_7B)
    torch.save(m, tmp_path / "whole.pt")
    with pytest.raises(CheckpointError, match="holds pickled Python objects.*--trust-pickle"):
        read_checkpoint(tmp_path / "whole.pt")
    _same(m, load_model(tmp_path / "whole.pt", trust_pickle=True))


def test_bad_checkpoints_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt: cannot read"):
        read_checkpoint(tmp_path / "junk.pt")
    (tmp_path / "d").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        read_checkpoint(tmp_path / "d")
