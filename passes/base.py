"""What a pass is: a frozen dataclass with a kebab-case `name`, its options as fields, and
`run(module, ctx) -> changed`. Its docstring says what it requires and what it guarantees;
`--list-passes` shows that text with the options and their defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from sbcompile.ir import Module

from .analysis import AnalysisManager


def option(default: Any, help: str) -> Any:
    """A pass option: a dataclass field with a default and one line of help."""
    return field(default=default, metadata={"help": help})


@dataclass
class PassContext:
    """What passes share during one compilation: the target's machine description (plain data),
    the report under construction, typed analyses passes hand each other (`analyses`, e.g. the
    calibration statistics), untyped results the mapping passes still hand on by name
    (`results`), notes to show if the compilation fails (`failure_notes`: each callback gets the
    reproducer directory and returns a note, e.g. the path of a picture it drew), and a progress
    callback for long work."""

    target: str = "ref"
    machine: Any = None
    report: dict[str, Any] = field(default_factory=dict)
    analyses: AnalysisManager = field(default_factory=AnalysisManager)
    results: dict[str, Any] = field(default_factory=dict)
    failure_notes: list[Callable[[Path], str]] = field(default_factory=list)
    progress: Callable[[str, float], None] = lambda what, fraction: None


@dataclass(frozen=True)
class Pass:
    name: ClassVar[str] = ""
    # Analyses still valid after this pass changed the module (None: all). Analyses the pass
    # itself set are always kept; a pass that returns "unchanged" keeps everything.
    preserves: ClassVar[tuple[type, ...] | None] = ()
    # The key this pass fills in report.json, and where its section stands in report.md (lower first).
    report_key: ClassVar[str] = ""
    report_rank: ClassVar[int] = 1000

    def run(self, module: Module, ctx: PassContext) -> bool:
        """Transform `module` in place; return whether anything changed."""
        raise NotImplementedError

    @classmethod
    def report_section(cls, report: dict[str, Any]) -> list[str]:
        """This pass's section of report.md (markdown lines) from the whole report; [] when it has
        nothing to say. Passes that share one section return the same lines. By default:
        `render_section` of the report's `report_key` entry, if there is one."""
        section = report.get(cls.report_key) if cls.report_key else None
        return cls.render_section(section, report) if section else []

    @classmethod
    def render_section(cls, section: Any, report: dict[str, Any]) -> list[str]:
        """The markdown lines of this pass's own report entry (`report`: the whole report, for
        what the section depends on, such as the kind of network)."""
        return []

    @classmethod
    def options(cls) -> list[dataclasses.Field]:
        return list(dataclasses.fields(cls))

    @classmethod
    def paragraphs(cls) -> list[str]:
        """The docstring's paragraphs, each on one line."""
        return [" ".join(p.split()) for p in (cls.__doc__ or "").strip().split("\n\n") if p.strip()]

    @classmethod
    def summary(cls) -> str:
        return (cls.paragraphs() or [""])[0]

    def spelling(self) -> str:
        """This pass as it is written in a pipeline, options that differ from defaults included."""
        opts = [f"{f.name.replace('_', '-')}={_format(getattr(self, f.name))}" for f in self.options()
                if getattr(self, f.name) != f.default]
        return self.name + ("{" + ",".join(opts) + "}" if opts else "")


def _format(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
