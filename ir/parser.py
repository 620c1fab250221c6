"""`.sbir` text -> Module. Lark's LALR parser with an inline transformer builds ops as it reads,
so a use before definition is caught at the operand that makes it; every error is one line,
`file:line:col: message`."""

from __future__ import annotations

import json
import math
import re
import reprlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from pydantic import ValidationError

from . import dialects  # noqa: F401  (registers the ops)
from .core import Module, Op, Value
from .errors import Location, ParseError, SbirError
from .lexer import SbirLexer
from .opdef import lookup
from .types import DTYPES, KINDS, MAX_DIM, Type
from .verifier import verify

_DIM_INT = re.compile(r"^\d+$")
_DIM_NAME = re.compile(r"^[A-Za-z_]\w*$")
_WORDS = {"true": True, "false": False, "none": None, "inf": math.inf, "nan": math.nan}
MAX_NESTING = 32  # list attributes nest at most this deep (the printer and pydantic recurse)
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 40, 40

_TERMINAL_NAMES = {
    "VALUE": "a %value", "SYMBOL": "an @name", "IDENT": "a name", "STRING": "a string", "FLOAT": "a number",
    "INT": "an integer", "TYPE": "a type like tensor<[seq, 64], f32>", "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['",
    "RSQB": "']'", "LESSTHAN": "'<'", "MORETHAN": "'>'", "COMMA": "','", "EQUAL": "'='", "COLON": "':'",
    "MODULE": "'module'", "OUTPUT": "'output'", "LOC": "'loc'",
}


class _Attrs(dict):
    """An attribute dict with the position of each key, for error messages."""

    def __init__(self) -> None:
        super().__init__()
        self.pos: dict[str, Token] = {}


class _Types(list):
    pass


class _Builder(Transformer):
    def __init__(self) -> None:
        super().__init__()
        self.reset("<string>")

    def reset(self, filename: str) -> None:
        self.file = filename
        self.values: dict[str, Value] = {}
        self.ops: list[Op] = []
        self.type_cache: dict[str, Type] = {}
        self.depth: dict[int, int] = {}  # id of a list attribute value -> its nesting depth
        self.keep: list[tuple] = []

    def _loc(self, tok: Token) -> Location:
        return Location(self.file, tok.line or 0, tok.column or 0)

    def _fail(self, tok: Token, message: str) -> None:
        raise ParseError(message, self._loc(tok))

    # ---- attribute values ----
    def _string(self, tok: Token) -> str:
        try:
            return json.loads(tok)
        except ValueError as e:  # a raw tab or control character, a bad escape
            self._fail(tok, f"bad string literal: {e.msg.lower().removesuffix(' at')} at character {e.pos} "
                       "(strings are JSON: escape tabs and control characters)")

    def _int(self, tok: Token) -> int:
        if len(tok) > 40:
            self._fail(tok, f"integer literal of {len(tok)} digits is too long (at most 40)")
        return int(tok)

    def string(self, c: list[Token]) -> str:
        return self._string(c[0])

    def float(self, c: list[Token]) -> float:
        return float(c[0])

    def int(self, c: list[Token]) -> int:
        return self._int(c[0])

    def word(self, c: list[Token]) -> Any:
        if c[0] not in _WORDS:
            self._fail(c[0], f"unexpected word '{c[0]}' as a value (expected true, false, none, inf, nan, a number, a string or a list)")
        return _WORDS[c[0]]

    def list(self, c: list[Any]) -> tuple:
        out = tuple(c)
        self.depth[id(out)] = 1 + max((self.depth.get(id(x), 0) for x in c if isinstance(x, tuple)), default=0)
        self.keep.append(out)  # keeps ids unique while the parse runs
        return out

    def attr(self, c: list[Any]) -> tuple[Token, Any]:
        depth = self.depth.get(id(c[1]), 0) if isinstance(c[1], tuple) else 0
        if depth > MAX_NESTING:
            self._fail(c[0], f"attribute '{c[0]}' nests lists {depth} deep (at most {MAX_NESTING})")
        return c[0], c[1]

    def attrdict(self, c: list[tuple[Token, Any]]) -> _Attrs:
        out = _Attrs()
        for key, value in c:
            if key in out:
                self._fail(key, f"attribute '{key}' is given twice")
            out[str(key)] = value
            out.pos[str(key)] = key
        return out

    # ---- types ----
    def types(self, c: list[Token]) -> _Types:
        return _Types(self._type(tok) for tok in c)

    def _type(self, tok: Token) -> Type:
        t = self.type_cache.get(tok.value)
        if t is None:
            t = self.type_cache[tok.value] = self._parse_type(tok)
        return t

    def _parse_type(self, tok: Token) -> Type:
        kind, rest = tok.value.split("<", 1)
        dims_text, dtype = rest[1:-1].rsplit("],", 1)
        dtype = dtype.strip()
        if kind not in KINDS:
            self._fail(tok, f"unknown type '{kind}' (expected one of {', '.join(KINDS)})")
        if dtype not in DTYPES:
            self._fail(tok, f"unknown element type '{dtype}' (expected one of {', '.join(DTYPES)})")
        dims: list[int | str] = []
        for d in (x.strip() for x in dims_text.split(",")) if dims_text.strip() else ():
            if _DIM_INT.match(d):
                if len(d) > 10 or int(d) > MAX_DIM:
                    self._fail(tok, f"dimension {d[:20]}{'...' if len(d) > 20 else ''} in a type is too large (at most {MAX_DIM})")
                dims.append(int(d))
            elif _DIM_NAME.match(d):
                dims.append(d)
            else:
                self._fail(tok, f"bad dimension '{d}' in {tok.value} (expected a non-negative integer or a name)")
        return Type(kind, tuple(dims), dtype)

    def loc(self, c: list[Token]) -> Location:
        return Location(self._string(c[0]), self._int(c[1]), self._int(c[2]) if len(c) > 2 else 0)

    def results(self, c: list[Token]) -> list[Token]:
        return c

    def operands(self, c: list[Token]) -> list[Token]:
        return c

    # ---- ops ----
    def op(self, c: list[Any]) -> Op:
        results, name = c[0], c[1]
        operands: list[Token] = []
        attrs, types, loc = _Attrs(), _Types(), None
        for item in c[2:]:
            if isinstance(item, _Attrs):
                attrs = item
            elif isinstance(item, _Types):
                types = item
            elif isinstance(item, Location):
                loc = item
            elif isinstance(item, list):
                operands = item
        where = self._loc(results[0])
        op_def = lookup(str(name))
        if op_def is None:
            dialect = str(name).split(".")[0]
            self._fail(name, f"unknown op '{name}'" + ("" if "." in name else " (ops are written dialect.name)")
                       + (f" in dialect '{dialect}'" if "." in name else ""))
        args = []
        for tok in operands:
            v = self.values.get(tok[1:])
            if v is None:
                self._fail(tok, f"use of undefined value '{tok}' (values must be defined before use)")
            args.append(v)
        params_in = {k: v for k, v in attrs.items() if "." not in k}
        extra = {k: v for k, v in attrs.items() if "." in k}
        try:
            params = op_def.params.model_validate(params_in)
        except ValidationError as e:
            err = e.errors()[0]
            key = str(err["loc"][0]) if err["loc"] else ""
            tok = attrs.pos.get(key, name)
            what = {"missing": "is required", "extra_forbidden": "is not a parameter of this op"}.get(err["type"])
            detail = what or f"{err['msg'].replace('Input should', 'should')}, got {_SHORT.repr(err.get('input'))}"
            known = ", ".join(op_def.params.model_fields) or "none"
            self._fail(tok, f"{name}: parameter '{key}' {detail} (parameters: {known})")
        if len(types) != len(results):
            self._fail(results[0], f"{name}: {len(results)} results but {len(types)} types")
        vals = []
        for tok, t in zip(results, types):
            vname = tok[1:]
            if vname in self.values:
                self._fail(tok, f"value '{tok}' is defined twice")
            v = Value(vname, t)
            self.values[vname] = v
            vals.append(v)
        op = Op(str(name), args, vals, params, extra, loc=loc, pos=where)
        self.ops.append(op)
        return op

    def output(self, c: list[Token]) -> list[Value]:
        outs = []
        for tok in c:
            v = self.values.get(tok[1:])
            if v is None:
                self._fail(tok, f"output of undefined value '{tok}'")
            outs.append(v)
        return outs

    def start(self, c: list[Any]) -> Module:
        sym = c[0]
        attrs = c[1] if isinstance(c[1], _Attrs) else _Attrs()
        return Module(sym[1:], dict(attrs), self.ops, c[-1], pos=self._loc(sym))


@lru_cache(maxsize=1)
def _parser() -> tuple[Lark, _Builder]:
    """One LALR parser whose inline transformer builds ops during the parse (no tree is built).
    The builder's state is reset per parse, so parsing is not re-entrant across threads."""
    grammar = (Path(__file__).parent / "grammar.lark").read_text()
    builder = _Builder()
    return Lark(grammar, parser="lalr", lexer=SbirLexer, maybe_placeholders=False, transformer=builder), builder


def _describe(e: UnexpectedInput) -> str:
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        return "unexpected end of file (is the module's closing '}' or its 'output' line missing?)"
    if isinstance(e, UnexpectedCharacters):
        return f"unexpected character {e.char!r}"
    assert isinstance(e, UnexpectedToken)
    expected = sorted({_TERMINAL_NAMES.get(t, t) for t in e.expected})
    return f"unexpected {e.token!s:.40} , expected {' or '.join(expected)}".replace(" ,", ",")


def parse(text: str, filename: str = "<string>", *, check: bool = True) -> Module:
    """Parse `.sbir` text; `check` runs the verifier too. Raises ParseError / VerifyError."""
    lark, builder = _parser()
    builder.reset(filename)
    try:
        module = lark.parse(text)
    except UnexpectedInput as e:
        line = getattr(e, "line", -1)
        col = getattr(e, "column", -1)
        at_end = isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END")
        if at_end or line in (-1, None):
            line = text.count("\n") + 1
            col = len(text) - (text.rfind("\n") + 1) + 1
        raise ParseError(_describe(e), Location(filename, line, col)) from None
    except VisitError as e:
        if isinstance(e.orig_exc, SbirError):
            raise e.orig_exc from None
        raise ParseError(f"cannot read this text ({type(e.orig_exc).__name__}: {e.orig_exc})", Location(filename, 0)) from None
    except RecursionError:
        raise ParseError("nested too deeply to read", Location(filename, 0)) from None
    if check:
        verify(module)
    return module


def parse_file(path: str | Path, *, check: bool = True) -> Module:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ParseError(f"cannot read: {e.strerror if isinstance(e, OSError) else 'not UTF-8 text'}", Location(str(p), 0)) from None
    return parse(text, str(p), check=check)
