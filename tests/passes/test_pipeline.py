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
    import tests.plugins.option_pass  # noqa: F401  (registers test-options)

    (p,) = parse_pipeline("test-options{count=2,ratio=1e-3,flag=on,mode=fast,limit=none}")
    assert (p.count, p.ratio, p.flag, p.mode, p.limit) == (2, 1e-3, True, "fast", None)
    assert p.spelling() == "test-options{count=2,ratio=0.001,flag=true,mode=fast}"
    assert parse_pipeline(p.spelling()) == [p]
    for text, message in [("count=two", "option 'count': expected an integer, got 'two'"),
                          ("flag=maybe", "option 'flag': expected true or false, got 'maybe'"),
                          ("mode=slow", "option 'mode': expected one of fast, exact, got 'slow'"),
                          ("count", "option 'count' needs a value")]:
        with pytest.raises(PipelineError, match=message):
            parse_pipeline(f"test-options{{{text}}}")
