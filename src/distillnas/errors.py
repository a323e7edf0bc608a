"""User-facing errors.

Anything raised as `DistillnasError` is a problem with the user's input (a name, a file,
a value). The CLI prints its message as one line and exits non-zero, without a traceback;
library users can catch it like any `ValueError`.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class DistillnasError(ValueError):
    """Bad input: the message names the bad value and what is allowed."""


def suggest(name: str, choices: Iterable[str]) -> str:
    """' (did you mean X?)' for the nearest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class SetupError(DistillnasError):
    """A problem with the run's setup (data, teacher), not with a candidate architecture:
    it stops the search instead of becoming a failed trial."""


class SearchInterrupted(Exception):
    """Ctrl-C during a search: the store is consistent, re-running the command resumes it."""

    def __init__(self, trials: int, run_dir: str) -> None:
        super().__init__(f"interrupted after {trials} trials; run the same command to resume ({run_dir})")
        self.trials, self.run_dir = trials, run_dir
