"""A faster lexer for the `.sbir` grammar: one master regex built from the grammar's own
terminals (so the grammar stays the single definition), scanned with `re.match` in a loop.
Lark's general lexer spends about twice as long per token, and a 10,000-op module has 120,000."""

from __future__ import annotations

import re
from typing import Iterator

from lark.exceptions import UnexpectedCharacters
from lark.lexer import Lexer, PatternStr, Token


class SbirLexer(Lexer):
    def __init__(self, lexer_conf) -> None:  # lark's LexerConf
        terminals = sorted(lexer_conf.terminals, key=lambda t: (-t.priority, -t.pattern.max_width, t.name))
        words = {t.pattern.value: t.name for t in terminals
                 if isinstance(t.pattern, PatternStr) and t.pattern.value.isidentifier()}
        groups = [f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in terminals if t.pattern.value not in words]
        self.master = re.compile("|".join(groups))
        self.ignore = set(lexer_conf.ignore)
        self.keywords = words

    def lex(self, text: str) -> Iterator[Token]:
        match, ignore, keywords = self.master.match, self.ignore, self.keywords
        pos, line, line_start, end = 0, 1, 0, len(text)
        while pos < end:
            m = match(text, pos)
            if m is None:
                raise UnexpectedCharacters(text, pos, line, pos - line_start + 1)
            kind, value = m.lastgroup, m.group()
            if kind not in ignore:
                if kind == "IDENT" and value in keywords:
                    kind = keywords[value]
                yield Token(kind, value, pos, line, pos - line_start + 1)
            newlines = value.count("\n")
            if newlines:
                line += newlines
                line_start = pos + value.rfind("\n") + 1
            pos = m.end()
