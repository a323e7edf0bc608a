"""The evaluator lifecycle, the trial result, and the per-process state of pure evaluators.

`run_search` drives every evaluator through the same calls, in this order, and names none:

  check(cfg, space)          class method, before any work: the config's own demands
  check_teacher(cfg, t)      class method: refuse a given teacher the evaluator cannot use
  Evaluator(cfg, space, run) then prepare(loaded, teacher): saved state, per-process state
  before_batch(strategy, b)  before batch b is asked for (the supernet trains shared weights)
  oversample, screen(archs)  a batch asked k times larger is cut to its best 1/k by a cheap score
  ask_size(b, n), rungs(b)   how many archs batch b asks for, and its fidelities (successive halving)
  work(tokens)               a trial's expected relative cost: trials are dispatched longest first
  task()                     (function, first argument): the executor calls
                             function(first, tokens, seed) -> TrialResult for each arch
  select(strategy, trials)   the final archs (and facts for best.yaml) after the loop

Pure evaluators (proxy, table) evaluate with a module-level function of (EvalContext of plain
config sections, tokens, seed), so a trial can run in another process or on another host
(Ray) and be retried; expensive per-process state (dataset, teacher, cached outputs) is
built once per process. An evaluator that holds state across trials (the supernet) says
`local_only` and `reuse_repeats = False`.
"""
from __future__ import annotations

import hashlib
import math
import time
import traceback
from abc import ABC
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, ClassVar

import torch
from pydantic import BaseModel

from ..cost import MEASURERS, CostConfig, LatencyCache, count_macs, count_params
from ..data import DataConfig, ImageDataset, Splits, prepare_data
from ..errors import SetupError
from ..registry import Registry
from ..selection import pareto_front, select_best
from ..spaces import SearchSpace, build_space
from ..teachers import Teacher, TeacherCache, TeacherSpec


@dataclass
class TrialResult:
    """One trial's outcome as stored: arch, status, accuracy, costs, wall time and extra facts."""
    arch: str
    tokens: list[int]
    status: str  # ok | failed | diverged
    accuracy: float | None = None
    params: int | None = None
    macs: int | None = None
    latency_ms: float | None = None
    wall_s: float = 0.0
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EvalContext:
    """Everything a worker needs to evaluate an arch: validated config sections (they pickle
    to Ray workers as they are) and plain values."""

    space: Any  # the space's config section
    data: DataConfig
    evaluator: Any  # the evaluator's config section
    cost: CostConfig
    teacher: TeacherSpec | None  # None: the loss needs no teacher
    latency_file: str = ""  # the run's measured latencies ('' keeps them in memory)
    teacher_cache: str = ""  # the run's teacher-output cache ('' keeps it in memory)
    device: str = "auto"
    threads: int = 0
    channels_last: str = "auto"
    precision: str = "auto"
    compile: str = "auto"
    # multi-fidelity: this rung's fidelity and the one it continues from (0: none), and where
    # the rungs leave their training state; not part of `key` (one dataset and teacher per process)
    fidelity: float = 0.0
    resume_fidelity: float = 0.0
    state_dir: str = ""

    @property
    def key(self) -> str:
        parts = {k: v.model_dump_json() if isinstance(v, BaseModel) else repr(v) for k, v in vars(self).items()
                 if k not in ("fidelity", "resume_fidelity", "state_dir")}
        return hashlib.sha1(repr(sorted(parts.items())).encode()).hexdigest()


@dataclass
class WorkerState:
    """What one process builds once per search context and reuses for every trial: the space
    and latency cache (always), the dataset, teacher and its output cache (`load_setup`), and
    an evaluator's own objects (a benchmark table, a zero-cost probe) under `extra`."""

    space: SearchSpace
    latency: LatencyCache
    data: tuple[ImageDataset, Splits] | None = None
    teacher: Teacher | None = None
    cache: TeacherCache | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def loaded(self) -> tuple[ImageDataset, Splits]:
        """The dataset and its splits (after `load_setup`)."""
        if self.data is None:
            raise SetupError("this process's dataset was not loaded (load_setup first)")
        return self.data


_STATE: dict[str, WorkerState] = {}  # per-process memo: context key -> what it built


def worker_state(ctx: EvalContext) -> WorkerState:
    """This process's space and latency cache for `ctx` (data and teacher come with prime_state)."""
    if ctx.key not in _STATE:
        cost = ctx.cost
        measure = MEASURERS.build(cost.latency, warmup=cost.warmup, repeats=cost.repeats) \
            if cost.latency != "none" else MEASURERS.build("none")
        _STATE[ctx.key] = WorkerState(build_space(**ctx.space.model_dump()),
                                      LatencyCache(measure, ctx.latency_file or None))
    return _STATE[ctx.key]


def prime_state(ctx: EvalContext, ds: ImageDataset, splits: Splits, teacher: Teacher | None) -> None:
    """Hand this process's evaluator the dataset and teacher the setup check already loaded
    (the local executor would otherwise load them a second time)."""
    st = worker_state(ctx)
    st.data, st.teacher, st.cache = (ds, splits), teacher, TeacherCache(ctx.teacher_cache or None)


def load_setup(ctx: EvalContext) -> WorkerState:
    """Dataset, teacher and cache for this process, all or nothing. They were checked before
    the search began, so a failure here is about this worker's environment (a missing mount
    on a Ray node, say), never about the arch: it is raised as SetupError, not stored."""
    st = worker_state(ctx)
    if st.data is None:
        try:
            ds, splits = prepare_data(ctx.data)
            teacher = ctx.teacher.load(ds) if ctx.teacher else None
        except Exception as e:
            raise SetupError(f"this worker cannot load the search's data or teacher: {str(e).splitlines()[0][:300]}") \
                from None
        prime_state(ctx, ds, splits, teacher)
    return st


def measure_costs(space: SearchSpace, tokens: tuple[int, ...], arch: str, shape: tuple[int, int, int],
                  num_classes: int, latency: LatencyCache) -> tuple[torch.nn.Module, dict[str, Any], dict[str, Any]]:
    """(model, params / MACs / latency for TrialResult, the latency's spread for its extra)."""
    c, h, _ = shape
    model = space.build(tokens, num_classes, c, h)
    input_shape = (1, c, h, h)
    lat = latency.get(arch, model, input_shape)
    return model, {"params": count_params(model), "macs": count_macs(model, input_shape),
                   "latency_ms": lat.median_ms}, {"latency_iqr_ms": lat.iqr_ms}


class Evaluator(ABC):
    """Base of every evaluator; the defaults suit a pure evaluator (see the module docstring)."""

    reuse_repeats: ClassVar[bool] = True  # a stored result of the same arch may stand for a repeat
    local_only: ClassVar[bool] = False  # state shared across trials: one process only
    needs_data: ClassVar[bool] = True  # the dataset (and teacher) are loaded and checked before the search

    def __init__(self, cfg: Any, space: SearchSpace, run: Any, ctx: EvalContext) -> None:
        """cfg: the whole search config; run: its RunDir (the files an evaluator may keep state in)."""
        self.cfg, self.space, self.run, self.ctx = cfg, space, run, ctx

    @classmethod
    def check(cls, cfg: Any, space: SearchSpace) -> None:
        """Refuse a config this evaluator cannot run, before any work."""

    @classmethod
    def check_teacher(cls, cfg: Any, teacher: Teacher | None) -> None:
        """Refuse a loaded teacher this evaluator cannot use (before any work); any by default."""

    def prepare(self, loaded: tuple | None, teacher: Teacher | None) -> None:
        """Per-process state; `loaded` is the (dataset, splits) the setup check already read."""
        if loaded is not None and (teacher is not None or not self.ctx.teacher):
            prime_state(self.ctx, *loaded, teacher)

    def before_batch(self, strategy: Any, batch: int) -> None:
        """Called before batch `batch` is asked for; nothing by default."""

    @property
    def oversample(self) -> int:
        """k: the loop asks the strategy for k times the batch and trains the best 1/k by `screen`."""
        return 1

    def screen(self, archs: list[tuple[int, ...]]) -> list[dict[str, Any]]:
        """{score, value, wall_s} per arch (higher value = more promising); only called when
        `oversample` > 1."""
        raise SetupError(f"evaluator {type(self).__name__} has no screen (its oversample is 1)")

    def rungs(self, batch: int) -> list[float | None]:
        """The fidelities batch `batch` is evaluated at, in order: the best 1/eta of each rung go
        on to the next (successive halving). [None]: one fidelity, no halving."""
        return [None]

    eta: ClassVar[int] = 3  # successive halving keeps the best 1/eta of a rung
    promote: ClassVar[str] = "front"  # two objectives: rank a rung by Pareto front or within cost strata
    asynchronous: ClassVar[bool] = False  # ASHA: promote as results arrive, not rung by rung
    tell_first: ClassVar[bool] = False  # tell the strategy each arch's first-rung reward, not its highest

    def ask_size(self, batch: int, n: int) -> int:
        """How many archs to ask the strategy for, when the search wants n evaluated now."""
        return n * self.oversample

    def work(self, tokens: tuple[int, ...]) -> float:
        """A trial's expected cost, relative to the others' (0: unknown). The loop dispatches a
        batch's trials in decreasing work, so parallel workers do not wait on one long trial
        started last (longest-processing-time-first scheduling, Graham, SIAM J. Appl. Math. 1969)."""
        return 0.0

    def task(self, fidelity: float | None = None, resume: float | None = None) -> tuple[Callable[..., TrialResult], Any]:
        """(function, first argument): the executor calls function(first, tokens, seed); with
        multi-fidelity, for the rung at `fidelity` continuing from the rung at `resume`."""
        if fidelity is None:
            return evaluate_trial, self.ctx
        return evaluate_trial, replace(self.ctx, fidelity=fidelity, resume_fidelity=resume or 0.0)

    def select(self, strategy: Any, trials: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The final archs and facts for best.yaml (from the last rung's trials under
        multi-fidelity): the Pareto front for a two-objective strategy, else the top-k by
        reward within the target."""
        top = self.cfg.evaluator.top_fidelity()
        if top is not None:  # multi-fidelity: only archs that reached the last rung are complete
            trials = [t for t in trials if t["extra"].get("fidelity") == top] or trials
        if strategy.objectives == 2:
            return pareto_front(trials, self.cfg.reward), {"pareto_front": True}
        return select_best(trials, self.cfg.reward, self.cfg.search.top_k), {}


EVALUATORS: Registry[type[Evaluator]] = Registry("evaluator")


def hyperband_skipped(batch: int, rungs: int, mode: str) -> int:
    """Hyperband's s for this batch: how many rungs its bracket skips at the start (batches cycle
    through the brackets); 0 for successive halving (Li et al., JMLR 2018)."""
    return batch % rungs if mode == "hyperband" and rungs > 1 else 0


def hyperband_size(n: int, skipped: int, rungs: int, eta: int) -> int:
    """Hyperband's bracket size: n_s = n (s_max + 1) / (s + 1) eta^(s - s_max) archs for the
    bracket with s + 1 rungs, so every bracket spends about the same epochs."""
    if not skipped:
        return n
    s_max = rungs - 1
    s = s_max - skipped
    return max(1, math.ceil(n * (s_max + 1) / (s + 1) * eta ** (s - s_max)))


def evaluate_trial(ctx: EvalContext, tokens: tuple[int, ...], seed: int) -> TrialResult:
    """Evaluate one arch; any failure becomes a failed TrialResult with its reason, never an
    exception - except SetupError, which is about the setup and stops the search."""
    start = time.perf_counter()
    if ctx.threads:
        torch.set_num_threads(ctx.threads)
    try:  # a pure evaluator's static run(ctx, tokens, seed)
        result = EVALUATORS.get(ctx.evaluator.name).run(ctx, tuple(tokens), seed)  # type: ignore[attr-defined]
    except SetupError:  # about the setup, not the arch: stop the search, store nothing
        raise
    except Exception as e:  # a broken candidate must not stop the search
        arch = ""
        try:
            arch = worker_state(ctx).space.to_string(tuple(tokens))
        except Exception:
            pass
        detail = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        result = TrialResult(arch, list(tokens), "failed", error=f"{type(e).__name__}: {detail}",
                             extra={"traceback": traceback.format_exc(limit=4)[-1500:]})
    result.wall_s = time.perf_counter() - start
    return result
