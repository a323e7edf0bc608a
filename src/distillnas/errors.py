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
