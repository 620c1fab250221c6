"""The IR's three nouns: a `Value` (an SSA name with a type), an `Op` (a dialect operation with
typed parameters and free-form namespaced attributes) and a `Module` (a flat list of ops with
outputs and a weight store). Structural equality ignores text positions, so
`parse(print(m)) == m` holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from pydantic import BaseModel

from .errors import Location
from .types import Type
from .weights import WeightStore

AttrValue = Any  # None | bool | int | float | str | tuple[AttrValue, ...]


@dataclass(eq=False)
class Value:
    """A named SSA value. `owner` is the op that defines it."""

    name: str
    type: Type
    owner: "Op | None" = None

    def __repr__(self) -> str:
        return f"%{self.name}: {self.type}"


@dataclass(eq=False)
class Op:
    """One operation. `params` is the op definition's pydantic model (validated, frozen); `attrs`
    holds discardable facts added by passes (keys are namespaced, `calib.rate`, `hw.core`).
    `loc` is the Python source the op was traced from (printed); `pos` is its place in parsed
    text (for error messages only)."""

    name: str
    operands: list[Value]
    results: list[Value]
    params: BaseModel
    attrs: dict[str, AttrValue] = field(default_factory=dict)
    loc: Location | None = None
    pos: Location | None = None

    def __post_init__(self) -> None:
        for r in self.results:
            r.owner = self

    @property
    def result(self) -> Value:
        """The single result of a one-result op."""
        if len(self.results) != 1:
            raise ValueError(f"{self.name} has {len(self.results)} results, not one")
        return self.results[0]

    @property
    def dialect(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def opdef(self) -> Any:
        """The op's definition (an `OpDef` instance), or None for an unregistered name."""
        from .opdef import lookup  # opdef imports nothing from core; the import is local to keep it so

        return lookup(self.name)

    def isa(self, *defs: type) -> bool:
        """Whether this op is one of the given op classes: `op.isa(Dense, Conv2d)`. Code outside
        ir/ names ops by class, never by their `dialect.name` string."""
        return isinstance(self.opdef, defs)

    def where(self) -> Location | None:
        """The best place to point a user at: the text position, else the traced source line."""
        return self.pos or self.loc

    def key(self) -> tuple:
        return (
            self.name,
            tuple(v.name for v in self.operands),
            tuple((v.name, v.type) for v in self.results),
            self.params,
            tuple(sorted(self.attrs.items())),
            self.loc,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Op) and self.key() == other.key()

    def __repr__(self) -> str:
        return f"<Op {self.name} -> {', '.join('%' + r.name for r in self.results)}>"


@dataclass(eq=False)
class Module:
    """A flat, single-block SSA module."""

    name: str
    attrs: dict[str, AttrValue] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    outputs: list[Value] = field(default_factory=list)
    weights: WeightStore = field(default_factory=WeightStore)
    pos: Location | None = None

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Module)
            and self.name == other.name
            and self.attrs == other.attrs
            and self.ops == other.ops
            and [(v.name, v.type) for v in self.outputs] == [(v.name, v.type) for v in other.outputs]
        )

    @property
    def inputs(self) -> list[Op]:
        """The module's `io.input` ops, in order: its interface."""
        from .dialects.io import Input

        return [op for op in self.ops if op.isa(Input)]

    def values(self) -> Iterator[Value]:
        for op in self.ops:
            yield from op.results

    def users(self) -> dict[str, list[Op]]:
        """For each value name, the ops that read it (in order)."""
        out: dict[str, list[Op]] = {v.name: [] for v in self.values()}
        for op in self.ops:
            for v in op.operands:
                out.setdefault(v.name, []).append(op)
        return out

    def replace_uses(self, old: Value, new: Value) -> int:
        """Make every reader of `old` (ops and outputs) read `new`; returns how many reads moved."""
        n = 0
        for op in self.ops:
            for i, v in enumerate(op.operands):
                if v is old:
                    op.operands[i] = new
                    n += 1
        for i, v in enumerate(self.outputs):
            if v is old:
                self.outputs[i] = new
                n += 1
        return n

    def fresh_name(self, base: str, taken: set[str] | None = None) -> str:
        """`base`, or `base_1`, `base_2`, ... whichever is not yet a value name."""
        names = taken if taken is not None else {v.name for v in self.values()}
        if base not in names:
            return base
        i = 1
        while f"{base}_{i}" in names:
            i += 1
        return f"{base}_{i}"
