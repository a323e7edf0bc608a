"""A rich progress bar that turns itself off when not wanted (tests, pipes, workers)."""
from __future__ import annotations

import contextlib
from typing import Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class _Bar:
    def __init__(self, progress: Progress | None, task: int | None) -> None:
        self.progress, self.task = progress, task

    def advance(self, n: int = 1, **fields: float) -> None:
        if self.progress is not None and self.task is not None:
            desc = "  ".join(f"{k} {v:.4g}" for k, v in fields.items())
            self.progress.update(self.task, advance=n, info=desc)


@contextlib.contextmanager
def progress_bar(enabled: bool, label: str, total: int) -> Iterator[_Bar]:
    if not enabled:
        yield _Bar(None, None)
        return
    cols = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    with Progress(*cols, transient=True) as p:
        yield _Bar(p, p.add_task(label, total=total, info=""))
