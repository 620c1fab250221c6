"""Pipelines as text: parsing, option types, and errors that list what is available."""

from __future__ import annotations

import pytest

from sbcompile.passes import PipelineError, format_pipeline, parse_pipeline


def test_parse_and_format() -> None:
    passes = parse_pipeline(" canonicalize , cse,dce ")
    assert [p.name for p in passes] == ["canonicalize", "cse", "dce"]
    assert format_pipeline(passes) == "canonicalize,cse,dce"


@pytest.mark.parametrize("text, message", [
    ("cse,frob", "unknown pass 'frob'; available passes: "),
    ("cse{x=1}", "pass 'cse' has no option 'x'; its options: none"),
    ("cse{", "missing '}'"),
    ("cse}", "unbalanced '}'"),
])
def test_errors(text: str, message: str) -> None:
    with pytest.raises(PipelineError) as e:
        parse_pipeline(text)
    assert message in str(e.value)
    if "available" in message:
        assert all(f"{name}," in str(e.value) + "," for name in ("canonicalize", "cse", "dce"))


def test_option_types() -> None:
    pytest.importorskip("sbcompile_example_pass")
    from sbcompile.passes import REGISTRY

    REGISTRY.load_entry_points()
    (p,) = parse_pipeline("annotate-fanout{min=2}")
    assert p.min == 2 and p.spelling() == "annotate-fanout{min=2}"
    with pytest.raises(PipelineError, match="option 'min': expected an integer, got 'two'"):
        parse_pipeline("annotate-fanout{min=two}")
