"""Building modules in code (frontends, passes, tests): `b.op(SiLU, [x])` (or by its name,
`b.op("nn.silu", [x])`) validates the parameters, runs the type rule and picks a fresh value name."""

from __future__ import annotations

from typing import Any

from . import dialects  # noqa: F401  (registers the ops)
from .core import Module, Op, Value
from .errors import Location, VerifyError
from .opdef import OpDef, TypeRuleError, lookup
from .types import Type


class Builder:
    def __init__(self, module: Module) -> None:
        self.module = module
        self.taken = {v.name for v in module.values()}

    def op(self, kind: str | type[OpDef], operands: list[Value], /, *, result: str | None = None, type: Type | None = None,
           loc: Location | None = None, attrs: dict[str, Any] | None = None, **params: Any) -> Value:
        """Append one single-result op (an `OpDef` class or its `dialect.name`) and return its result."""
        name = kind if isinstance(kind, str) else kind.name
        op_def = lookup(name)
        if op_def is None:
            raise VerifyError(f"unknown op '{name}'", loc)
        p = op_def.params(**params)
        try:
            inferred = op_def.result_types(p, [v.type for v in operands])
        except TypeRuleError as e:
            raise VerifyError(f"{name}: {e}", loc) from None
        if inferred is None:
            if type is None:
                raise VerifyError(f"{name}: its result type must be given", loc)
            inferred = [type]
        vname = self.module.fresh_name(result or name.split(".")[1], self.taken)
        self.taken.add(vname)
        value = Value(vname, inferred[0])
        self.module.ops.append(Op(name, list(operands), [value], p, dict(attrs or {}), loc=loc))
        return value

    def input(self, name: str, type: Type, result: str | None = None) -> Value:
        return self.op("io.input", [], result=result or name, type=type, name=name)

    def output(self, *values: Value) -> None:
        self.module.outputs.extend(values)
