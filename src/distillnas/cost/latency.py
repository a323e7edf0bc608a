"""Measured latency: batch 1 on one thread pinned to one core (as the papers measured on a
phone's big core), after warm-up, the median of repeats, cached by arch string. Measurers
are chosen by name, so a device-specific one can be added beside `cpu`."""
from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn as nn
from pydantic import Field

from ..io import atomic_write_text
from ..registry import Registry
from ..section import Section


class CostConfig(Section):
    latency: str = "cpu"  # measurer: cpu (1 thread, pinned, batch 1) | none
    warmup: int = Field(5, ge=0)
    repeats: int = Field(20, ge=1)


@contextlib.contextmanager
def single_core() -> Iterator[None]:
    """One intra-op thread, pinned to one core where the OS allows; restored afterwards."""
    threads = torch.get_num_threads()
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    torch.set_num_threads(1)
    try:
        if affinity:
            os.sched_setaffinity(0, {min(affinity)})
        yield
    finally:
        torch.set_num_threads(threads)
        if affinity:
            os.sched_setaffinity(0, affinity)


def measure_cpu_latency(model: nn.Module, input_shape: tuple[int, ...], warmup: int = 5, repeats: int = 20) -> float:
    """Median wall time (ms) of a batch-1 forward pass on one pinned CPU thread."""
    model.eval()
    x = torch.randn(input_shape)
    times = []
    with torch.inference_mode(), single_core():
        for i in range(warmup + repeats):
            t = time.perf_counter()
            model(x)
            if i >= warmup:
                times.append((time.perf_counter() - t) * 1000.0)
    return statistics.median(times)


Measurer = Callable[[nn.Module, tuple[int, ...]], float]
MEASURERS: Registry[Callable[..., Measurer]] = Registry("latency measurer")
MEASURERS.register("cpu")(lambda warmup=5, repeats=20: (lambda m, shape: measure_cpu_latency(m, shape, warmup, repeats)))
MEASURERS.register("none")(lambda **kw: (lambda m, shape: 0.0))


class LatencyCache:
    """Latency by arch string, in memory and (optionally) in a JSON file that survives runs."""

    def __init__(self, measure: Measurer, path: str | Path | None = None) -> None:
        self.measure, self.path = measure, Path(path) if path else None
        self.table: dict[str, float] = {}
        if self.path and self.path.is_file():
            with contextlib.suppress(ValueError):
                self.table = json.loads(self.path.read_text())

    def get(self, arch: str, model: nn.Module, input_shape: tuple[int, ...]) -> float:
        if arch not in self.table:
            self.table[arch] = self.measure(model, input_shape)
            if self.path:
                atomic_write_text(self.path, json.dumps(self.table))
        return self.table[arch]
