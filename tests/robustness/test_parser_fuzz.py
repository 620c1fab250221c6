"""Mutated `.sbir` texts: only the project's error type escapes the parser, the verifier and the
printer, and each kind of input that once escaped as a foreign exception gets a located message."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from sbcompile.ir import SbirError, parse, print_module
from tests.robustness.mutants import mutants

GOOD = """module @m {
  %x = io.input() {name = "x"} : tensor<[seq, 4], f32>
  %y = syn.dense(%x) {weight = "w", out_features = 3} : tensor<[seq, 3], f32>
  output %y
}
"""


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(mutants())
def test_mutants_raise_only_project_errors(text: str) -> None:
    try:
        module = parse(text, "m.sbir")
    except SbirError as e:
        assert e.message and "\n" not in str(e).split(": ", 1)[0]
        return
    printed = print_module(module)
    assert print_module(parse(printed)) == printed


CASES = {
    "huge_int": (GOOD.replace("out_features = 3", "out_features = " + "9" * 5000), "m.sbir:3:52: integer literal of 5000 digits"),
    "huge_loc_int": (GOOD.replace(": tensor<[seq, 3], f32>", ": tensor<[seq, 3], f32> loc(\"a\":" + "1" * 5000 + ")"),
                     "integer literal of 5000 digits"),
    "huge_dim": (GOOD.replace("[seq, 4]", "[seq, " + "9" * 5000 + "]"), "m.sbir:2:34: dimension 99999999999999999999... in a type is too large"),
    "tab_in_string": (GOOD.replace('"x"', '"a\tb"'), "m.sbir:2:27: bad string literal: invalid control character at character 2"),
    "bad_escape": (GOOD.replace('"x"', '"\\q"'), "m.sbir:2:27: bad string literal: invalid \\escape at character 1"),
    "deep_list": (GOOD.replace("{name", "{a.b = " + "[" * 5000 + "]" * 5000 + ", name"), "m.sbir:2:20: attribute 'a.b' nests lists 5000 deep"),
    "deep_param": (GOOD.replace("out_features = 3", "out_features = " + "[" * 2000 + "]" * 2000), "m.sbir:3:37: attribute 'out_features' nests lists 2000 deep"),
    "low_rank_operand": (GOOD.replace("tensor<[seq, 4], f32>\n", "tensor<[], f32>\n").replace(
        "tensor<[seq, 3], f32>", "tensor<[3], f32>"), "m.sbir:3:3: syn.dense (%y): expected at least one dimension"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_foreign_exception_shapes_become_located_errors(name: str) -> None:
    text, needle = CASES[name]
    with pytest.raises(SbirError) as e:
        parse(text, "m.sbir")
    assert needle in str(e.value)


def test_nested_list_within_the_limit_round_trips() -> None:
    text = GOOD.replace("{name", "{a.b = " + "[" * 32 + "1" + "]" * 32 + ", name")
    module = parse(text, "m.sbir")
    assert print_module(parse(print_module(module))) == print_module(module)
