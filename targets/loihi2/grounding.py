"""The grounding workload: the 370M MatMul-free language model that Abreu, Shrestha, Zhu and
Eshraghian ran on Loihi 2 (arXiv 2503.18002, 2025), built in the IR with meta weights, compiled
with the same machine and cost model as everything else, and compared with what was published.

The model (Zhu et al., "Scalable MatMul-free Language Modeling", arXiv 2406.02528; our reading of
its 370M configuration: width 1,024, 24 blocks, GLU width 2,816, vocabulary 32,000, untied
head): each block an MLGRU token mixer (ternary projections f, c, g, o; h_t = f_t h_{t-1} +
(1 - f_t) c_t, read out through g) and a GLU channel mixer, RMSNorm before each. Abreu et al.
quantized weights to 8 bits and activations to 24 bits and ran every layer on neurocores as
programmable (microcode) neurons; the mapping here does the same through the placement table:
norms, activations, products, sums and the recurrence are neuron populations on neurocores, the
embedding stays on the host. The recurrence is written as a GLA with one-channel heads (state
h per channel, decay f, input c, read-out g): the same per-token work and dataflow."""

from __future__ import annotations

from sbcompile.ir import Builder, Module, Value, tensor
from sbcompile.ir.dialects.nn import Add, Embed, LogSigmoid, Mul, RMSNorm, Sigmoid, SiLU
from sbcompile.ir.dialects.seq import GLA
from sbcompile.ir.dialects.syn import Dense

from .machine import Loihi2Chip, Loihi2System, Where

WIDTH, BLOCKS, GLU, VOCAB = 1024, 24, 2816, 32000

# What the public record gives (see docs/loihi2.md, "Grounding"): the abstract's ratios against a
# Jetson Orin Nano, and the energy per token its body reports as summarised by a public review.
PUBLISHED = {
    "energy_j_per_token": 0.405,
    "energy_source": "about 405 mJ per token on Loihi 2, Abreu et al. 2025 (arXiv 2503.18002) as summarised in a "
                     "public literature review; the figure's mode (prefill or generation) was not readable here",
    "claims": "up to 3x the throughput with 2x less energy than transformer LLMs on a Jetson Orin Nano; "
              "6.6x lower time to first token on a 500-token input (the abstract)",
}


def _dense(b: Builder, m: Module, x: Value, out: int, name: str) -> Value:
    m.weights.add_fake(name, (out, x.type.shape[-1]))
    return b.op(Dense.name, [x], weight=name, out_features=out, result=name)


def matmulfree_370m() -> Module:
    """The 370M MatMul-free LM as sbir with meta weights (shapes only)."""
    m = Module("matmulfree_370m")
    b = Builder(m)
    ids = b.input("input_ids", tensor(["seq"], "i32"))
    m.weights.add_fake("embed", (VOCAB, WIDTH))
    x = b.op(Embed.name, [ids], weight="embed", vocab=VOCAB, dim=WIDTH, result="embeddings")
    for i in range(BLOCKS):
        n = b.op(RMSNorm.name, [x], result=f"b{i}_mixer_norm")
        f, c, g = (_dense(b, m, n, WIDTH, f"b{i}_{k}_proj") for k in "fcg")
        decay = b.op(LogSigmoid.name, [f], result=f"b{i}_decay")
        gate_in = b.op(Sigmoid.name, [f], result=f"b{i}_input_gate")
        cand = b.op(SiLU.name, [c], result=f"b{i}_candidate")
        inp = b.op(Mul.name, [gate_in, cand], result=f"b{i}_input")
        out_gate = b.op(Sigmoid.name, [g], result=f"b{i}_output_gate")
        h = b.op(GLA.name, [out_gate, inp, b.op(Sigmoid.name, [n], result=f"b{i}_ones"), decay],
                 heads=WIDTH, kv_heads=WIDTH, head_dim=1, scale=1.0, result=f"b{i}_mlgru")
        x = b.op(Add.name, [x, _dense(b, m, h, WIDTH, f"b{i}_o_proj")], result=f"b{i}_mixed")
        n2 = b.op(RMSNorm.name, [x], result=f"b{i}_glu_norm")
        gate = b.op(SiLU.name, [_dense(b, m, n2, GLU, f"b{i}_gate_proj")], result=f"b{i}_gate")
        act = b.op(Mul.name, [gate, _dense(b, m, n2, GLU, f"b{i}_up_proj")], result=f"b{i}_glu")
        x = b.op(Add.name, [x, _dense(b, m, act, WIDTH, f"b{i}_down_proj")], result=f"b{i}_out")
    b.output(_dense(b, m, b.op(RMSNorm.name, [x], result="final_norm"), VOCAB, "lm_head"))
    return m


def all_on_neurocores(chips: int, chip_mesh: tuple[int, int]) -> Loihi2System:
    """A Loihi 2 system that puts every op of the workload on neurocores (the default: their neuron
    programs), as Abreu et al.'s microcode mapping did; the embedding, a table look-up, stays on
    the host."""
    placement: dict[str, Where] = {Embed.__name__: "host"}
    return Loihi2System(name=f"loihi2-{chips}-chips", chips=chips, chip_mesh=chip_mesh,
                        chip=Loihi2Chip(placement=placement))
