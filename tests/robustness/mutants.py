"""Mutations of valid `.sbir` texts, as a fuzzer and a careless editor make them: bytes dropped,
doubled or swapped, and the specific shapes that once escaped as foreign exceptions (huge
integers, raw tabs and bad escapes in strings, deep nesting, operands of too low a rank)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st

ROOT = Path(__file__).parents[2]
SEEDS = [ROOT / "examples" / "lif_network.sbir", ROOT / "tests" / "golden" / "cse_shared_encoder.sbir",
         ROOT / "tests" / "frontend" / "golden" / "gla_block.sbir", ROOT / "tests" / "frontend" / "golden" / "swa_block.sbir"]
SEED_TEXTS = [p.read_text() for p in SEEDS]

FRAGMENTS = [
    "9" * 5000, "-" + "9" * 4400, "1e99999", "\t", "\"a\tb\"", "\"\\q\"", "\"\\u12\"", "[" * 3000 + "]" * 3000,
    "[" * 40 + "1" + "]" * 40, "tensor<[], f32>", "tensor<[4], f32>", "spikes<[], i8>", "tensor<[-1, 4], f32>",
    "tensor<[99999999999999999999, 4], f32>", "%", "@", "{", "}", "(", ")", ",", "=", ":", "loc(\"x\":1:2)", "nan",
    "inf", "-inf", "none", "0", "-5", "\x00", "\u00e9", "//", "\n", "\"", "output", "module", "x.y = 1",
]


@st.composite
def mutants(draw: st.DrawFn) -> str:
    """A seed text with one to four edits: delete, duplicate, or insert a fragment at a random place."""
    text = draw(st.sampled_from(SEED_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(0, 30)))
        kind = draw(st.sampled_from(["delete", "duplicate", "insert", "replace_type", "replace_number"]))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        elif kind == "insert":
            text = text[:i] + draw(st.sampled_from(FRAGMENTS)) + text[i:]
        elif kind == "replace_type":
            at = text.find("tensor<", i)
            end = text.find(">", at)
            if at >= 0 and end > at:
                text = text[:at] + draw(st.sampled_from(["tensor<[], f32>", "tensor<[seq], f32>", "spikes<[], i8>",
                                                          "tensor<[4], f32>"])) + text[end + 1:]
        else:
            digits = [k for k in range(i, len(text)) if text[k].isdigit()]
            if digits:
                k = digits[0]
                text = text[:k] + draw(st.sampled_from(["9" * 4400, "0", "-1", "1e400", "nan"])) + text[k + 1:]
    return text
