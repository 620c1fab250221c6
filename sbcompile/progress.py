"""Progress for long work: a rich progress bar on a terminal, silence when piped."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

Progress = Callable[[str, float], None]


@contextmanager
def progress_bar(title: str, enabled: bool | None = None) -> Iterator[Progress]:
    """Yield `update(what, fraction)`; draws only when stderr is a terminal (or `enabled`)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield lambda what, fraction: None
        return
    from rich.progress import BarColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

    with RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[what]}"),
                      TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task(title, total=1.0, what="")

        def update(what: str, fraction: float) -> None:
            bar.update(task, completed=fraction, what=what)

        yield update
