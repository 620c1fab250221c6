"""The layered verifier: (1) structure — names, definition before use, registered ops; (2) each
op's parameters and its weights against the store; (3) types along every edge, by re-running
each op's type rule. Every message names the op, its result and its location."""

from __future__ import annotations

import re

from .core import Module, Op
from .errors import Location, VerifyError
from .opdef import TypeRuleError, lookup

NAME_RE = re.compile(r"^[A-Za-z0-9_.$-]+$")
ATTR_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


class Diagnostic:
    def __init__(self, message: str, loc: Location | None) -> None:
        self.message = message
        self.loc = loc

    def __str__(self) -> str:
        return f"{self.loc}: {self.message}" if self.loc else self.message


def _about(op: Op) -> str:
    res = ", ".join("%" + r.name for r in op.results)
    return f"{op.name} ({res})"


def check_structure(m: Module) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    if not NAME_RE.match(m.name):
        out.append(Diagnostic(f"module name '{m.name}' has characters outside [A-Za-z0-9_.$-]", m.pos))
    defined: set[str] = set()
    for op in m.ops:
        if lookup(op.name) is None:
            out.append(Diagnostic(f"unknown op '{op.name}'", op.where()))
        for v in op.operands:
            if v.name not in defined:
                out.append(Diagnostic(f"{_about(op)}: operand %{v.name} is used before it is defined", op.where()))
        for r in op.results:
            if not NAME_RE.match(r.name):
                out.append(Diagnostic(f"{_about(op)}: value name '{r.name}' has characters outside [A-Za-z0-9_.$-]", op.where()))
            if r.name in defined:
                out.append(Diagnostic(f"{_about(op)}: value %{r.name} is defined twice", op.where()))
            if r.owner is not op:
                out.append(Diagnostic(f"{_about(op)}: result %{r.name} does not point back at its op", op.where()))
            defined.add(r.name)
        for key in op.attrs:
            if not ATTR_KEY_RE.match(key):
                out.append(Diagnostic(f"{_about(op)}: attribute '{key}' must be namespaced (like 'calib.rate')", op.where()))
    for v in m.outputs:
        if v.name not in defined:
            out.append(Diagnostic(f"output %{v.name} is not defined", m.pos))
    return out


def check_params(m: Module) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for op in m.ops:
        op_def = lookup(op.name)
        if op_def is None:
            continue
        if not isinstance(op.params, op_def.params):
            out.append(Diagnostic(f"{_about(op)}: parameters are a {type(op.params).__name__}, expected {op_def.params.__name__}", op.where()))
            continue
        if len(op.operands) != len(op_def.operands):
            out.append(Diagnostic(f"{_about(op)}: takes {len(op_def.operands)} operands ({', '.join(op_def.operands)}), got {len(op.operands)}", op.where()))
            continue
        if len(m.weights):  # with no weights at all (none written beside it), a text is structure only
            for field in op_def.weight_fields():
                name = getattr(op.params, field, None)
                if isinstance(name, str) and name not in m.weights:
                    out.append(Diagnostic(f"{_about(op)}: {field} '{name}' is not in the module's weight store", op.where()))
        operand_types = [v.type for v in op.operands]
        try:
            op_def.result_types(op.params, operand_types)
            expected = op_def.weight_shapes(op.params, operand_types)
        except TypeRuleError:
            continue  # reported by the type layer
        except Exception as e:  # noqa: BLE001  a rule that cannot handle these operands: report, do not crash
            out.append(Diagnostic(f"{_about(op)}: {_rule_failure(e, operand_types)}", op.where()))
            continue
        for field, shape in expected.items():
            name = getattr(op.params, field, None)
            if name is None or name not in m.weights:
                continue
            have = m.weights.shape(name)
            if len(have) != len(shape) or any(isinstance(s, int) and s != h for s, h in zip(shape, have)):
                out.append(Diagnostic(f"{_about(op)}: weight '{name}' has shape {list(have)}, expected {list(shape)}", op.where()))
    return out


def check_types(m: Module) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for op in m.ops:
        op_def = lookup(op.name)
        if op_def is None or len(op.operands) != len(op_def.operands):
            continue
        operand_types = [v.type for v in op.operands]
        try:
            inferred = op_def.result_types(op.params, operand_types)
        except TypeRuleError as e:
            out.append(Diagnostic(f"{_about(op)}: {e}", op.where()))
            continue
        except Exception as e:  # noqa: BLE001
            out.append(Diagnostic(f"{_about(op)}: {_rule_failure(e, operand_types)}", op.where()))
            continue
        if inferred is None:
            continue
        if len(inferred) != len(op.results):
            out.append(Diagnostic(f"{_about(op)}: has {len(op.results)} results, its type rule gives {len(inferred)}", op.where()))
            continue
        for r, t in zip(op.results, inferred):
            if r.type != t:
                out.append(Diagnostic(f"{_about(op)}: type mismatch: result %{r.name} is written {r.type} but the op produces {t}", op.where()))
    return out


def _rule_failure(e: Exception, operand_types: list) -> str:
    """An op's type or weight rule that raised something other than TypeRuleError (an operand of
    too low a rank, say), as a diagnostic rather than a crash."""
    ranks = ", ".join(f"{t} (rank {t.rank})" for t in operand_types) or "none"
    return f"operands of unexpected shape ({ranks}): {type(e).__name__}: {e}"


def diagnose(m: Module) -> list[Diagnostic]:
    """All problems, layer by layer; a later layer runs only if the earlier ones found none."""
    for layer in (check_structure, check_params, check_types):
        found = layer(m)
        if found:
            return found
    return []


def verify(m: Module) -> None:
    """Raise VerifyError with every problem found (one per line) if the module is ill-formed."""
    found = diagnose(m)
    if found:
        first = found[0]
        rest = "".join(f"\n{d}" for d in found[1:])
        raise VerifyError(first.message + rest, first.loc)
