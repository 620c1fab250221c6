"""The `sbcompile` command line."""

from __future__ import annotations

import sys

from sbcompile.ir import SbirError, parse_file, print_module


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        m = parse_file(args[0])
    except SbirError as e:
        print(str(e), file=sys.stderr)
        return 1
    sys.stdout.write(print_module(m))
    return 0
