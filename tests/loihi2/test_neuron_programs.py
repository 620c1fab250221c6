"""The neuron programs and per-op resources the cost model reads: every op of the 7B has a
placement and a program, only the embedding and the argmax leave the neurocores, the GLA state
and the partial sums are counted as the design says, and the micro-operations are the ones the
module documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from sbcompile.cli import main
from sbcompile.ir import parse
from sbcompile.loihi2_model.neuron_programs import (
    MESSAGE_KINDS, MICRO_OPS, PROGRAMS, RECIPROCAL, dataflow, layer_table,
)


@pytest.fixture(scope="module")
def seven_b(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("np") / "7b"
    assert main(["spikingbrain-7b", "--emit", "ir", "-o", str(path)]) == 0
    return parse((Path(path) / "module.sbir").read_text())


def test_only_the_embedding_and_argmax_leave_the_cores(seven_b) -> None:  # type: ignore[no-untyped-def]
    rows = dataflow(seven_b)
    assert len(rows) == len(seven_b.ops) - 1  # every op but the input
    assert [r.op for r in rows if r.placement != "neurocore"] == ["nn.embed"]
    kinds = {k for r in rows for k in (*r.messages, *r.offcore_messages)}
    assert kinds <= set(MESSAGE_KINDS) and "partial_sum_24b" in kinds


def test_gla_state_and_partial_sums(seven_b) -> None:  # type: ignore[no-untyped-def]
    rows = {r.value: r for r in dataflow(seven_b)}
    gla = rows["layers_0_attn_core"]
    assert gla.neurons == 4 * 128 * 128 and gla.state_bytes == gla.neurons * 15  # S, k, v, decay, q registers
    assert gla.messages["partial_sum_24b"] == 4 * 2 * 7 * 128  # 2 cores per key/value head, 7 heads share it
    down = rows["layers_0_mlp_down_proj"]  # fan-in 18,944: five input tiles, four partial sums per output
    assert down.messages["partial_sum_24b"] == 4 * 3584 and down.synapses == 18944 * 3584
    assert rows["lm_head"].offcore_messages == {"graded_24b": 152064} and not rows["lm_head"].messages
    enc = rows["layers_0_attn_q_proj_spikes"]
    assert enc.messages == {"broadcast_24b": 2, "reduction_24b": 3584, "spike_count_8b": 3584}


def test_programs_use_documented_micro_operations() -> None:
    for p in PROGRAMS.values():
        assert set(p.micro_ops) <= set(MICRO_OPS) and p.why
    assert RECIPROCAL == {"add": 3, "clz": 1, "lut": 1, "mul": 6, "shift": 7}


def test_table_lists_every_op_of_one_layer_of_each_kind(seven_b) -> None:  # type: ignore[no-untyped-def]
    table = layer_table(seven_b)
    assert "`%layers_0_attn_core` | `seq.gla` | neurocore | gla-state" in table
    assert "`%layers_1_attn_core` | `seq.window_attention` | neurocore | window-key" in table
    assert "layers_2_" not in table and "| `%lm_head` |" in table
    per_layer = {op.results[0].name for op in seven_b.ops if op.results[0].name.startswith(("layers_0_", "layers_1_"))}
    assert all(f"`%{v}`" in table for v in per_layer)


def test_docs_table_is_the_one_the_module_prints(seven_b) -> None:  # type: ignore[no-untyped-def]
    docs = Path(__file__).parents[2] / "docs"
    text = "".join(p.read_text() for p in (docs / "loihi2-dataflow.md", docs / "loihi2.md") if p.exists())
    assert layer_table(seven_b) in text
