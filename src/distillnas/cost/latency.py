"""Measured latency: batch 1 on one thread pinned to one core (as the papers measured on a
phone's big core), after warm-up, the median of repeats, cached by arch string. Measurers
are chosen by name, so a device-specific one can be added beside `cpu`."""
from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn as nn
from pydantic import Field

from ..io import atomic_write_text
from ..registry import Registry
from ..section import Section


class CostConfig(Section):
    """How trial costs are measured: the latency measurer (cpu, onnxruntime or none) and its repeats."""
    latency: str = "cpu"  # measurer: cpu (PyTorch) | onnxruntime (the exported graph) | none; 1 pinned thread, batch 1
    warmup: int = Field(5, ge=0, le=10_000)
    repeats: int = Field(20, ge=1, le=10_000)


def _cpu_times() -> dict[int, tuple[int, int]]:
    """{cpu: (idle jiffies, total jiffies)} from /proc/stat ({} where there is none)."""
    out = {}
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("cpu") and line[3:4].isdigit():
                name, *fields = line.split()
                values = [int(f) for f in fields]
                out[int(name[3:])] = (values[3] + (values[4] if len(values) > 4 else 0), sum(values))
    return out


def idle_core(cpus: set[int], window_s: float = 0.05) -> int:
    """The least busy core of `cpus` over a short window (Linux), else the lowest: a latency
    measured beside a training trial on the same core is the trial's noise, not the model's."""
    before = _cpu_times()
    if not before:
        return min(cpus)
    time.sleep(window_s)
    after = _cpu_times()

    def idle_share(c: int) -> float:
        (i0, t0), (i1, t1) = before.get(c, (0, 0)), after.get(c, (0, 0))
        return (i1 - i0) / (t1 - t0) if t1 > t0 else 0.0

    return max(sorted(cpus), key=idle_share)


@contextlib.contextmanager
def single_core() -> Iterator[None]:
    """One intra-op thread, pinned to the idlest allowed core where the OS allows; restored afterwards."""
    threads = torch.get_num_threads()
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    torch.set_num_threads(1)
    try:
        if affinity:
            os.sched_setaffinity(0, {idle_core(set(affinity))})
        yield
    finally:
        torch.set_num_threads(threads)
        if affinity:
            os.sched_setaffinity(0, affinity)


@dataclass(frozen=True)
class Latency:
    """A latency measurement: median and interquartile range over repeats, in ms."""
    median_ms: float
    iqr_ms: float  # interquartile range of the repeats: how far one measurement can be trusted

    @property
    def noisy(self) -> bool:
        """Whether the spread (IQR) is above 10 % of the median: such a measurement is taken again."""
        return self.iqr_ms > NOISY * self.median_ms


NOISY = 0.1  # an IQR above 10% of the median is re-measured


def time_forward(model: nn.Module, input_shape: tuple[int, ...], warmup: int = 5, repeats: int = 20) -> Latency:
    """Median and IQR (ms) of batch-1 forward passes on one pinned CPU thread."""
    model.eval()
    x = torch.randn(input_shape)
    times = []
    with torch.inference_mode(), single_core():
        for i in range(warmup + repeats):
            t = time.perf_counter()
            model(x)
            if i >= warmup:
                times.append((time.perf_counter() - t) * 1000.0)
    q1, q3 = (statistics.quantiles(times, n=4)[::2] if len(times) > 1 else (times[0], times[0]))
    return Latency(statistics.median(times), q3 - q1)


def measure_cpu_latency_stats(model: nn.Module, input_shape: tuple[int, ...], warmup: int = 5, repeats: int = 20,
                              retries: int = 2) -> Latency:
    """`time_forward`, measured again (with twice the repeats, on the then idlest core) while the
    spread is above NOISY of the median; the least noisy measurement is kept."""
    best = time_forward(model, input_shape, warmup, repeats)
    for k in range(retries):
        if not best.noisy:
            break
        again = time_forward(model, input_shape, warmup, repeats * 2 ** (k + 1))
        best = min(best, again, key=lambda m: m.iqr_ms / max(m.median_ms, 1e-9))
    return best


def measure_cpu_latency(model: nn.Module, input_shape: tuple[int, ...], warmup: int = 5, repeats: int = 20) -> float:
    """Median wall time (ms) of a batch-1 forward pass on one pinned CPU thread."""
    return measure_cpu_latency_stats(model, input_shape, warmup, repeats).median_ms


Measurer = Callable[[nn.Module, tuple[int, ...]], Latency]
MEASURERS: Registry[Callable[..., Measurer]] = Registry("latency measurer")
MEASURERS.register("cpu", 'median latency of a torch forward pass on this CPU')(lambda warmup=5, repeats=20: (
    lambda m, shape: measure_cpu_latency_stats(m, shape, warmup, repeats)))
MEASURERS.register("none", 'no latency measurement (0 ms)')(lambda warmup=0, repeats=0: (lambda m, shape: Latency(0.0, 0.0)))


class LatencyCache:
    """Latency (median, IQR) by arch string, in memory and (optionally) in a JSON file that
    survives runs (older files hold the median alone)."""

    def __init__(self, measure: Measurer, path: str | Path | None = None) -> None:
        self.measure, self.path = measure, Path(path) if path else None
        self.table: dict[str, Latency] = {}
        if self.path and self.path.is_file():
            with contextlib.suppress(ValueError, TypeError):
                raw = json.loads(self.path.read_text())
                self.table = {k: Latency(*v) if isinstance(v, list) else Latency(float(v), math.nan)
                              for k, v in raw.items()}

    def get(self, arch: str, model: nn.Module, input_shape: tuple[int, ...]) -> Latency:
        if arch not in self.table:
            self.table[arch] = self.measure(model, input_shape)
            if self.path:
                atomic_write_text(self.path, json.dumps({k: [v.median_ms, v.iqr_ms] for k, v in self.table.items()}))
        return self.table[arch]
