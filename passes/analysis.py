"""Typed analyses that passes hand each other, in the spirit of MLIR's AnalysisManager: a pass
asks for a result by its class (`ctx.analyses.get(Calibration)`) instead of a dict key, and says
which results it leaves valid (`Pass.preserves`). A class with a `compute(module)` classmethod
is computed from the module on first request (calibration statistics, read back from the IR's
`calib.*` attributes); any other is set by the pass that produces it (`ctx.analyses.set(obj)`)."""

from __future__ import annotations

from typing import Any, TypeVar

from sbcompile.ir import Module, SbirError

A = TypeVar("A")


class AnalysisManager:
    def __init__(self) -> None:
        self._results: dict[type, Any] = {}
        self._fresh: set[type] = set()  # set during the current pass: valid whatever it preserves

    def get(self, kind: type[A], module: Module | None = None) -> A | None:
        """The analysis of this class: cached, else computed from `module` if the class can be,
        else None (no pass has produced it)."""
        if kind not in self._results and module is not None and hasattr(kind, "compute"):
            self._results[kind] = kind.compute(module)  # type: ignore[attr-defined]
        return self._results.get(kind)

    def require(self, kind: type[A], module: Module | None, who: str, producer: str) -> A:
        """`get`, or a clear error: `who` needs `producer` to run first."""
        found = self.get(kind, module)
        if found is None:
            raise SbirError(f"{who} needs the {kind.__name__} that `{producer}` computes; run it first")
        return found

    def set(self, result: Any) -> None:
        """Hand on a result, keyed by its class."""
        self._results[type(result)] = result
        self._fresh.add(type(result))

    def begin_pass(self) -> None:
        self._fresh = set()

    def invalidate(self, preserved: tuple[type, ...] | None) -> None:
        """After a pass that changed the module: drop what it did not preserve or produce (None:
        it preserves everything)."""
        if preserved is None:
            return
        keep = set(preserved) | self._fresh
        self._results = {k: v for k, v in self._results.items() if k in keep}
