"""Rich progress bars that turn themselves off when not wanted (tests, pipes, workers)."""
from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .reward import RewardConfig, trial_reward
from .store import TrialStore


LOG_EVERY_S = 30.0  # seconds between two lines of a log bar


class _Bar:
    def __init__(self, progress: Progress | None, task: int | None) -> None:
        self.progress, self.task = progress, task

    def advance(self, n: int = 1, **fields: float) -> None:
        """Count `n` more steps done."""
        if self.progress is not None and self.task is not None:
            desc = "  ".join(f"{k} {v:.4g}" for k, v in fields.items())
            self.progress.update(self.task, advance=n, info=desc)

    def set_total(self, total: int) -> None:
        """Change the number of steps expected (a run that learns its length late)."""
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, total=total)


class _LogBar(_Bar):
    """Progress for a log file (stdout not a terminal): one plain line every `every` seconds
    and at the end - a live bar written to a file is either nothing or a flood."""

    def __init__(self, label: str, total: int, done: int = 0, every: float = LOG_EVERY_S) -> None:
        super().__init__(None, None)
        self.label, self.total, self.every, self.done, self.first = label, max(total, 1), every, done, done
        self.start = self.last = time.monotonic()

    def set_total(self, total: int) -> None:
        """Change the number of steps expected."""
        self.total = max(total, 1)

    def advance(self, n: int = 1, **fields: float) -> None:
        """Count `n` more steps done; print a plain line when the interval has passed."""
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every or self.done >= self.total:
            self.last = now
            elapsed, frac = now - self.start, min(self.done / self.total, 1.0)
            rate = (self.done - self.first) / elapsed if elapsed > 0 else 0.0
            eta = max(self.total - self.done, 0) / rate if rate > 0 else float("nan")
            info = "  ".join(f"{k} {v:.4g}" for k, v in fields.items())
            # a search's last bracket, once started, is finished: its promotions may pass the budget
            past = ", finishing the last bracket" if self.done > self.total else ""
            print(f"{self.label}: {self.done}/{self.total} ({100 * frac:.0f}%{past})  {info}  "
                  f"elapsed {elapsed:.0f} s  eta {eta:.0f} s", flush=True)



@contextlib.contextmanager
def progress_bar(enabled: bool, label: str, total: int, done: int = 0) -> Iterator[_Bar]:
    """A live bar on a terminal, plain lines every 30 s in a log file, nothing when not enabled;
    `done` of `total` are finished already (a resumed training)."""
    if not enabled:
        yield _Bar(None, None)
        return
    if not Console().is_terminal:
        yield _LogBar(label, total, done)
        return
    cols = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    with Progress(*cols, transient=True) as p:
        yield _Bar(p, p.add_task(label, total=total, completed=done, info=""))


class SearchProgress:
    """A search's bar: paid evaluations out of the budget, repeats (free), best reward so far, ETA."""

    def __init__(self, enabled: bool, total: int, store: TrialStore, reward: RewardConfig) -> None:
        self.enabled, self.total, self.reward = enabled, total, reward
        self.done, self.reused = store.count_paid(), store.count_reused()
        self.best = max((trial_reward(t, reward) for t in store.trials("ok")), default=0.0)
        self.failed = 0
        self.progress: Progress | None = None
        self.log: _LogBar | None = None  # stdout is a file: plain lines instead of a live bar

    def __enter__(self) -> "SearchProgress":
        if self.enabled and not Console().is_terminal:
            self.log = _LogBar("search", self.total, self.done)
        elif self.enabled:
            self.progress = Progress(TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("best reward {task.fields[best]:.4f}  repeats {task.fields[reused]}"
                                                "  failed {task.fields[failed]}"),
                                     TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
            self.progress.__enter__()
            self.task = self.progress.add_task("search", total=self.total, completed=self.done, best=self.best,
                                               failed=0, reused=self.reused)
        return self

    def update(self, r: dict[str, Any]) -> None:
        """Show the search's progress after a trial: trials done, best reward, repeats, failures."""
        if r["status"] == "screened":
            return
        if "reused_from" in r.get("extra", {}):
            self.reused += 1
        else:
            self.done += 1
        self.best = max(self.best, trial_reward(r, self.reward))
        self.failed += r["status"] != "ok"
        if self.log is not None and "reused_from" not in r.get("extra", {}):
            self.log.advance(1, **{"best reward": self.best, "repeats": self.reused, "failed": self.failed})
        if self.progress is not None:
            self.progress.update(self.task, completed=self.done, best=self.best, failed=self.failed,
                                 reused=self.reused)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(None, None, None)
