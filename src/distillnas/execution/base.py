"""The executor protocol and its config section: run a batch of trials, hand back each result
as soon as it is done. Executors are chosen by name (`EXECUTORS`)."""
from __future__ import annotations

import heapq
import itertools
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, Hashable, Iterator, Literal, Sequence

from pydantic import Field

from ..registry import Registry
from ..section import Section


class ExecutionConfig(Section):
    """Where and how trials run: the executor, CPUs / GPUs / threads per trial, retries,
    layout and precision."""
    executor: str = "local"  # local | ray
    ray_address: str | None = None  # join an existing Ray cluster; None starts a local instance
    cpus_per_trial: float = Field(1, gt=0, le=1024)
    gpus_per_trial: float = Field(0, ge=0, le=64)
    retries: int = Field(2, ge=0, le=100)  # re-runs of a trial whose worker died
    threads: int = Field(0, ge=0, le=1024)  # torch threads for a local trial (0: leave as is)
    channels_last: Literal["auto", "on", "off"] = "auto"  # memory format of trials, supernet and teacher training
    # autocast precision of trials, supernet and teacher training (distillnas.precision): auto =
    # bf16 on CPUs with native bf16 and on CUDA, fp32 on other CPUs
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    compile: Literal["auto", "on", "off"] = "auto"  # torch.compile of trials and teacher training (auto: long CUDA runs only)


class WorkQueue:
    """Jobs (key, fn, args) to run, highest priority first, then first in; it may grow while an
    executor drains it (asynchronous successive halving queues promotions as results arrive)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Hashable, Callable[..., Any], tuple]] = []
        self._order = itertools.count()

    def put(self, key: Hashable, fn: Callable[..., Any], args: tuple, priority: float = 0.0) -> None:
        """Queue an item; a higher priority is taken first, equal priorities in order."""
        heapq.heappush(self._heap, (-priority, next(self._order), key, fn, args))

    def pop(self) -> tuple[Hashable, Callable[..., Any], tuple] | None:
        """The highest-priority item queued first."""
        if not self._heap:
            return None
        _, _, key, fn, args = heapq.heappop(self._heap)
        return key, fn, args

    def __len__(self) -> int:
        return len(self._heap)


class Executor(ABC):
    # trials run in the search's own process, so an evaluator's state shared across trials (a
    # supernet's weights) is seen by every trial; False for executors that ship trials elsewhere
    """Runs trials (pure functions of an `EvalContext`) and hands back their results as they finish."""
    in_process: ClassVar[bool] = False

    @classmethod
    def check(cls, cfg: ExecutionConfig) -> None:
        """Refuse settings this executor cannot run with, before the run directory is written
        (a cluster address nobody answers at, say). Nothing to check for most executors."""

    @classmethod
    def trial_threads(cls, cfg: ExecutionConfig) -> int:
        """Torch threads a trial runs with (0: leave torch's default): `threads` when set."""
        return cfg.threads

    @abstractmethod
    def map(self, fn: Callable[..., Any], items: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        """Call fn(*item) for every item; yield (index, result) in completion order."""

    def capacity(self) -> int:
        """How many trials run at once (one, unless the executor is parallel)."""
        return 1

    def drain(self, queue: WorkQueue) -> Iterator[tuple[Hashable, Any]]:
        """Run the queue's jobs until it is empty and none is running; yield (key, result) as each
        finishes. The consumer may put more jobs between results: they run too, by priority."""
        while (job := queue.pop()) is not None:
            key, fn, args = job
            yield key, fn(*args)

    def close(self) -> None:
        return None


EXECUTORS: Registry[Callable[[ExecutionConfig], Executor]] = Registry("executor")


def build_executor(cfg: ExecutionConfig) -> Executor:
    """The executor an execution section names, started."""
    return EXECUTORS.get(cfg.executor)(cfg)
