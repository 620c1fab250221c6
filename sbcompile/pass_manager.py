"""The PassManager: runs a pipeline over a module with instruments around every pass (verify,
print, dump, time, progress), and on a failing pass writes a reproducer — the pass's input IR
and the rest of the pipeline — whose path the error names."""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sbcompile.ir import Module, SbirError, print_module, verify
from sbcompile.ir.errors import VerifyError
from sbcompile.passes import Pass, PassContext, format_pipeline


class PassFailure(SbirError):
    """A pass raised or left an invalid module; the message names the pass and the reproducer."""


class Instrument:
    """Hooks around each pass; `index` counts from 1."""

    def before(self, index: int, p: Pass, module: Module) -> None: ...

    def after(self, index: int, p: Pass, module: Module, changed: bool, seconds: float) -> None: ...

    def finish(self) -> None: ...


class Verify(Instrument):
    def after(self, index: int, p: Pass, module: Module, changed: bool, seconds: float) -> None:
        verify(module)


@dataclass
class PrintIR(Instrument):
    """`--print-ir-before/after[-all]`: MLIR-style banners on stderr, the module between them."""

    before_names: set[str] | None = None  # None: none; empty set: all
    after_names: set[str] | None = None
    stream: TextIO | None = None  # None: sys.stderr at the time of writing

    def _show(self, when: str, p: Pass, module: Module) -> None:
        (self.stream or sys.stderr).write(f"// -----// IR Dump {when} {p.spelling()} //----- //\n{print_module(module)}\n")

    def before(self, index: int, p: Pass, module: Module) -> None:
        if self.before_names is not None and (not self.before_names or p.name in self.before_names):
            self._show("Before", p, module)

    def after(self, index: int, p: Pass, module: Module, changed: bool, seconds: float) -> None:
        if self.after_names is not None and (not self.after_names or p.name in self.after_names):
            self._show("After", p, module)


@dataclass
class DumpIR(Instrument):
    """`--dump-ir DIR`: `00-input.sbir`, then `NN-name.sbir` after each pass, each parseable."""

    directory: Path

    def before(self, index: int, p: Pass, module: Module) -> None:
        if index == 1:
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / "00-input.sbir").write_text(print_module(module))

    def after(self, index: int, p: Pass, module: Module, changed: bool, seconds: float) -> None:
        (self.directory / f"{index:02d}-{p.name}.sbir").write_text(print_module(module))


@dataclass
class TimePasses(Instrument):
    """`--time-passes`: a table of seconds per pass on stderr when the pipeline ends."""

    stream: TextIO | None = None  # None: sys.stderr at the time of writing
    rows: list[tuple[str, float, bool]] = field(default_factory=list)

    def after(self, index: int, p: Pass, module: Module, changed: bool, seconds: float) -> None:
        self.rows.append((p.spelling(), seconds, changed))

    def finish(self) -> None:
        out = self.stream or sys.stderr
        total = sum(s for _, s, _ in self.rows) or 1e-12
        width = max([len(n) for n, _, _ in self.rows] + [4])
        out.write(f"===-- pass timing --===\n  {'seconds':>8}  {'share':>6}  {'pass':<{width}}  changed\n")
        for name, s, changed in self.rows:
            out.write(f"  {s:8.4f}  {100 * s / total:5.1f}%  {name:<{width}}  {'yes' if changed else 'no'}\n")
        out.write(f"  {total:8.4f}  100.0%  total\n")


@dataclass
class PassManager:
    passes: list[Pass]
    instruments: list[Instrument] = field(default_factory=list)
    reproducer_dir: Path | None = None

    def run(self, module: Module, ctx: PassContext) -> dict[str, float]:
        """Run every pass in order; returns seconds per pass (by spelling and position)."""
        timings: dict[str, float] = {}
        n = len(self.passes)
        for i, p in enumerate(self.passes, start=1):
            ctx.progress(p.name, (i - 1) / max(n, 1))
            snapshot = print_module(module)
            for inst in self.instruments:
                inst.before(i, p, module)
            ctx.analyses.begin_pass()
            t0 = time.perf_counter()
            try:
                changed = bool(p.run(module, ctx))
                seconds = time.perf_counter() - t0
                if changed:
                    ctx.analyses.invalidate(p.preserves)
                for inst in self.instruments:
                    inst.after(i, p, module, changed, seconds)
            except VerifyError as e:
                raise self._failure(p, i, snapshot, f"left an invalid module: {e}", ctx) from None
            except SbirError as e:
                raise self._failure(p, i, snapshot, str(e), ctx) from None
            except Exception as e:  # a bug in a pass: report it as one, with the reproducer
                raise self._failure(p, i, snapshot, f"crashed: {type(e).__name__}: {e}", ctx) from e
            timings[f"{i:02d}-{p.name}"] = seconds
        for inst in self.instruments:
            inst.finish()
        ctx.progress("passes", 1.0)
        return timings

    def _failure(self, p: Pass, index: int, snapshot: str, what: str, ctx: PassContext) -> PassFailure:
        rest = format_pipeline(self.passes[index - 1:])
        directory = self.reproducer_dir or Path(tempfile.gettempdir()) / "sbcompile-reproducers"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{p.name}.sbir"
        path.write_text(f"// reproducer: the input of pass '{p.name}' (pass {index} of the pipeline)\n"
                        f"// run: sbcompile {path} --passes '{rest}'\n{snapshot}")
        extra = "".join(f", {note(directory)}" for note in ctx.failure_notes)
        return PassFailure(f"pass '{p.name}' {what} (reproducer: {path}{extra})")
