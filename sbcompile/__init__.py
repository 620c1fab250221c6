"""sbcompile: a compiler for spiking LLMs (SpikingBrain) onto neuromorphic cores, GPUs and a
reference interpreter.

    import sbcompile
    art = sbcompile.compile("examples/tiny", target="loihi2")   # a path, preset, model object or NIR graph
    res = art.run(text="import ", generate=16)
    art.save("out/tiny"); sbcompile.load("out/tiny")

docs/api.md describes the API; `sbcompile --help` the command line built on it."""

from typing import Any

__version__ = "0.1.0"

__all__ = ["Artifact", "CompileOptions", "RunResult", "compile", "load"]


def __getattr__(name: str) -> Any:
    """The API is imported on first use, so `import sbcompile` stays cheap."""
    if name in __all__:
        from sbcompile import api

        return getattr(api, name)
    raise AttributeError(f"module 'sbcompile' has no attribute '{name}'")
