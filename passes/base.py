"""What a pass is: a frozen dataclass with a kebab-case `name`, its options as fields, and
`run(module, ctx) -> changed`. Its docstring says what it requires and what it guarantees;
`--list-passes` shows that text with the options and their defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from sbcompile.ir import Module


def option(default: Any, help: str, minimum: float | None = None) -> Any:
    """A pass option: a dataclass field with a default, one line of help and, for numbers, the
    least value it accepts (checked when a pipeline string is parsed)."""
    return field(default=default, metadata={"help": help, "minimum": minimum})


@dataclass
class PassContext:
    """What passes share during one compilation: the target's machine description (plain data),
    the report under construction, results a later pass or the target reads but no report shows
    (`results`, e.g. the placement's coordinates), and a progress callback for long work."""

    target: str = "ref"
    machine: Any = None
    report: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    progress: Callable[[str, float], None] = lambda what, fraction: None
    seed: int = 0


@dataclass(frozen=True)
class Pass:
    name: ClassVar[str] = ""

    def run(self, module: Module, ctx: PassContext) -> bool:
        """Transform `module` in place; return whether anything changed."""
        raise NotImplementedError

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
