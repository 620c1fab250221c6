"""The text format round-trips: parse(print(m)) == m and print(parse(t)) == t."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from sbcompile.ir import Module, parse, print_module, verify

from .strategies import modules


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(modules())
def test_print_parse_print(m: Module) -> None:
    verify(m)
    text = print_module(m)
    back = parse(text, "roundtrip.sbir")
    assert back == m
    assert print_module(back) == text


def test_example_file_is_canonical() -> None:
    from pathlib import Path

    path = Path(__file__).parents[2] / "examples" / "lif_network.sbir"
    m = parse(path.read_text(), str(path))
    again = parse(print_module(m))
    assert again == m and print_module(again) == print_module(m)
