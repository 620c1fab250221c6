"""`sbcompile run OUT ...`: run a compiled artifact on its target."""

from __future__ import annotations

import argparse

from sbcompile.ir import SbirError


def run_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="sbcompile run", description="Run a compiled artifact on its target.")
    ap.add_argument("artifact", help="an output directory written by `sbcompile ... -o OUT`")
    return ap


def run_main(argv: list[str]) -> int:
    args = run_parser().parse_args(argv)
    raise SbirError(f"{args.artifact}: running artifacts arrives with the reference interpreter")
