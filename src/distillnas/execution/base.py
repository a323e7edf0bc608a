"""The executor protocol and its config section: run a batch of trials, hand back each result
as soon as it is done. Executors are chosen by name (`EXECUTORS`)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Iterator, Literal, Sequence

from pydantic import Field

from ..registry import Registry
from ..section import Section


class ExecutionConfig(Section):
    executor: str = "local"  # local | ray
    ray_address: str | None = None  # join an existing Ray cluster; None starts a local instance
    cpus_per_trial: float = Field(1, gt=0)
    gpus_per_trial: float = Field(0, ge=0)
    retries: int = Field(2, ge=0)  # re-runs of a trial whose worker died
    threads: int = Field(0, ge=0)  # torch threads for a local trial (0: leave as is)
    channels_last: Literal["auto", "on", "off"] = "auto"  # memory format of trials, supernet and teacher training


class Executor(ABC):
    @abstractmethod
    def map(self, fn: Callable[..., Any], items: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        """Call fn(*item) for every item; yield (index, result) in completion order."""

    def close(self) -> None:
        return None


EXECUTORS: Registry[Callable[[ExecutionConfig], Executor]] = Registry("executor")


def build_executor(cfg: ExecutionConfig) -> Executor:
    return EXECUTORS.get(cfg.executor)(cfg)
