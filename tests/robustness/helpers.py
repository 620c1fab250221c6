"""Running the command in-process and checking that it failed the way a user should see it."""

from __future__ import annotations

import pytest

from sbcompile.cli import main


def fails_with(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> str:
    """Run `sbcompile argv`: exit status 1, one line on stderr holding `needle`, no internal error."""
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("sbcompile: warning:")]
    assert rc == 1, (argv, err)
    assert len(lines) == 1 and needle in lines[0], (argv, err)
    assert "internal error" not in err and "Traceback" not in err
    return lines[0]
