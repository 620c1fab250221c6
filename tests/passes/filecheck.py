"""A small FileCheck: the `// CHECK:` lines of a test file, matched in order against a pass's
printed IR. `CHECK: text` finds a later line holding the text; `CHECK-NEXT: text` must be on the
line right after the previous match; `CHECK-NOT: text` must not appear between the previous
match and the next one (or the end). Text matches as a substring; `{{regex}}` inside it matches
a regular expression."""

from __future__ import annotations

import re
from dataclasses import dataclass

DIRECTIVE = re.compile(r"^\s*//\s*(CHECK|CHECK-NEXT|CHECK-NOT):\s?(.*)$")


@dataclass(frozen=True)
class Check:
    kind: str      # CHECK, CHECK-NEXT or CHECK-NOT
    text: str
    line: int      # in the test file, for the failure message

    def pattern(self) -> re.Pattern[str]:
        parts = re.split(r"\{\{(.*?)\}\}", self.text)
        return re.compile("".join(p if i % 2 else re.escape(p) for i, p in enumerate(parts)))


class CheckFailure(AssertionError):
    pass


def read_checks(test_text: str) -> list[Check]:
    checks = []
    for n, line in enumerate(test_text.splitlines(), start=1):
        m = DIRECTIVE.match(line)
        if m:
            checks.append(Check(m.group(1), m.group(2).rstrip(), n))
    if not checks:
        raise CheckFailure("no CHECK lines")
    if checks[0].kind == "CHECK-NEXT":
        raise CheckFailure(f"line {checks[0].line}: CHECK-NEXT with no CHECK before it")
    return checks


def filecheck(checks: list[Check], output: str) -> None:
    """Raise CheckFailure naming the first check `output` does not satisfy."""
    lines = output.splitlines()
    pos = 0           # first line a positive check may match
    pending: list[Check] = []  # CHECK-NOTs waiting for the next match to bound their range
    for c in checks:
        if c.kind == "CHECK-NOT":
            pending.append(c)
            continue
        pat = c.pattern()
        if c.kind == "CHECK-NEXT":
            found = pos if pos < len(lines) and pat.search(lines[pos]) else None
            if found is None:
                got = lines[pos] if pos < len(lines) else "<end of output>"
                raise CheckFailure(f"line {c.line}: CHECK-NEXT: {c.text!r} is not on the next line, which is {got!r}")
        else:
            found = next((i for i in range(pos, len(lines)) if pat.search(lines[i])), None)
            if found is None:
                raise CheckFailure(f"line {c.line}: CHECK: {c.text!r} not found after output line {pos}")
        _forbid(pending, lines, pos, found)
        pending = []
        pos = found + 1
    _forbid(pending, lines, pos, len(lines))


def _forbid(nots: list[Check], lines: list[str], start: int, end: int) -> None:
    for c in nots:
        pat = c.pattern()
        for i in range(start, end):
            if pat.search(lines[i]):
                raise CheckFailure(f"line {c.line}: CHECK-NOT: {c.text!r} found on output line {i + 1}: {lines[i]!r}")
