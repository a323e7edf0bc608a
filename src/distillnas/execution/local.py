"""Trials one after another in this process (the default)."""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

from .base import EXECUTORS, ExecutionConfig, Executor


@EXECUTORS.register("local", 'trials one after another in this process')
class LocalExecutor(Executor):
    """Trials run one after another in this process."""
    in_process = True

    def __init__(self, cfg: ExecutionConfig) -> None:
        self.cfg = cfg

    def map(self, fn: Callable[..., Any], items: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        for i, item in enumerate(items):
            yield i, fn(*item)
