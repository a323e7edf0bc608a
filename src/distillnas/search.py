"""The search loop: strategy -> executor -> evaluator -> store -> strategy.

It names no concrete space, strategy, evaluator or executor: each comes from its registry by
name and every evaluator is driven through the same lifecycle (evaluators/base.py). A run
lives in a directory (rundir.py). Re-running with the same directory resumes it:

  1. the strategy's archs for batch b are stored before any of them is evaluated;
  2. every finished trial is inserted at once, keyed (batch, slot);
  3. after the batch is complete the strategy is told, its state saved, the batch marked.
A kill at any point loses no finished trial, and a restart evaluates only missing slots.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from .analysis import build_report
from .batch import run_batch, screen_batch, told_results
from .config import SearchConfig
from .errors import DistillnasError, SearchInterrupted
from .evaluators import EVALUATORS, EvalContext, Evaluator
from .execution import EXECUTORS, Executor, build_executor
from .progress import SearchProgress
from .reward import RewardConfig, trial_objectives, trial_reward
from .runconfig import config_differences
from .rundir import RunDir
from .selection import most_accurate, select_best
from .setup import check_config, check_setup, prepare_teacher, resolve_reference
from .spaces import SearchSpace
from .store import TrialStore
from .strategies import Strategy, build_strategy
from .teachers import TeacherSpec


@dataclass
class SearchOutcome:
    """What a search returns: the run directory, trial counts, wall time and the best students."""
    run_dir: Path
    trials: int
    evaluated: int  # trials actually run in this call (not resumed, not reused)
    best: list[dict[str, Any]]
    wall_s: float
    failures: dict[str, Any] = field(default_factory=dict)  # {"counts": {status: n}, "first_error": str}
    readonly: bool = False  # a finished run read from a read-only directory: nothing was written
    reused: int = 0  # repeats of stored archs: told to the strategy, not paid for
    converged: bool = False  # ended early: `patience` batches in a row proposed only stored archs
    reward: RewardConfig | None = None  # the reward as the search used it (a relative target measured)
    accurate: list[dict[str, Any]] = field(default_factory=list)  # most accurate students within the target


class LiveReport:
    """RUN/report/index.html rewritten after a batch, at most every `every_s` seconds, so a
    running search can be watched (the page reloads itself while the search runs)."""

    def __init__(self, run: RunDir, every_s: float, console: Console | None) -> None:
        self.run, self.every_s, self.last = run, every_s, time.monotonic()
        if every_s > 0 and console is not None:
            console.print(f"live report (every {every_s:g} s): {run.report / 'index.html'}", soft_wrap=True)

    def after_batch(self) -> None:
        """Rebuild the report when its interval has passed since the last rebuild."""
        if self.every_s > 0 and time.monotonic() - self.last >= self.every_s:
            try:
                build_report([self.run.path])
            except DistillnasError:  # nothing to show yet (no successful trial)
                pass
            self.last = time.monotonic()


def make_evaluator(cfg: SearchConfig, space: SearchSpace, run: RunDir, teacher: TeacherSpec | None) -> Evaluator:
    """The config's evaluator for this run, with the context its trials carry to workers."""
    ctx = EvalContext(space=cfg.space, data=cfg.data, evaluator=cfg.evaluator, cost=cfg.cost, teacher=teacher,
                      latency_file=str(run.latency), teacher_cache=str(run.teacher_cache),
                      threads=EXECUTORS.get(cfg.execution.executor).trial_threads(cfg.execution), channels_last=cfg.execution.channels_last,
                      precision=cfg.execution.precision, compile=cfg.execution.compile)
    return EVALUATORS.get(cfg.evaluator.name)(cfg, space, run, ctx)


def run_search(cfg: SearchConfig, console: Console | None = None, progress: bool = True) -> SearchOutcome:
    """Run (or resume) a search: ask the strategy for students, evaluate them, tell it the rewards.

    Everything about the setup is checked before the run directory is written; running the
    same config again resumes it (no finished trial is lost or run twice).

    Args:
        cfg: the search config (`load_search_config`).
        console: where to print progress and the teacher's report (a `rich` Console); None: silent.
        progress: show a progress bar on `console`.

    Returns:
        A `SearchOutcome`: the run directory, trial counts, the best students (also in
        RUN/best.yaml), wall time and failures.

    Raises:
        DistillnasError: a bad config, dataset or teacher, before anything is written.
        SearchInterrupted: Ctrl-C; the run store stays consistent and the search resumes.
    """
    start = time.perf_counter()
    space = check_config(cfg)
    run = RunDir.of(cfg)
    if not run.writable():
        return finished_readonly(cfg, run, space, start)
    setup = check_setup(cfg)
    cfg = resolve_reference(cfg, run, setup)
    cfg = run.open(cfg)
    evaluator = make_evaluator(cfg, space, run, prepare_teacher(cfg, run, console, setup.spec))
    evaluator.prepare(setup.data, setup.teacher)
    store = run.store()
    strategy = build_strategy(cfg.strategy, space.sizes, space.kinds, cfg.reward.limit, space.sources, space.ordered)
    if not evaluator.reuse_repeats:
        strategy.rescore_repeats()
    saved_at = run.load_strategy(strategy, store)
    executor = build_executor(cfg.execution) if store.count_paid() < cfg.search.trials else None
    try:
        live = LiveReport(run, cfg.search.report_every_s, console)
        with SearchProgress(progress and console is not None, cfg.search.trials, store, cfg.reward) as bar:
            evaluated, converged = _loop(cfg, space, run, store, strategy, evaluator, executor, saved_at, bar, live)
    except KeyboardInterrupt:
        raise SearchInterrupted(store.count(), str(run)) from None
    finally:
        if executor is not None:
            executor.close()
    best, extra = evaluator.select(strategy, store.trials())
    run.write_best({"space": space.config(), "reward": cfg.reward.model_dump(), **extra, "archs": best})
    outcome = SearchOutcome(run.path, store.count_paid(), evaluated, best, time.perf_counter() - start,
                            failures=failure_summary(store), reused=store.count_reused(),
                            converged=converged, reward=cfg.reward,
                            accurate=most_accurate(store.trials(), cfg.reward, 3))
    store.close()
    return outcome


def _loop(cfg: SearchConfig, space: SearchSpace, run: RunDir, store: TrialStore, strategy: Strategy,
          evaluator: Evaluator, executor: Executor | None, saved_at: tuple[int, str] | None,
          bar: SearchProgress, live: LiveReport) -> tuple[int, bool]:
    """Batches until the paid budget is spent or the policy converged: (evaluated now, converged)."""
    evaluated = 0
    while True:
        b = store.next_batch()
        archs = store.batch_archs(b)
        if archs is None:
            left = cfg.search.trials - store.count_paid()
            if left <= 0:
                return evaluated, False
            if _converged(store, cfg):
                return evaluated, True
            if evaluator.before_batch(strategy, b):
                run.save_strategy(strategy, b, "trained")
            archs = [space.validate(a) for a in strategy.ask(evaluator.ask_size(b, min(cfg.search.batch_size, left)))]
            store.add_batch(b, archs)
            run.save_strategy(strategy, b, "asked")
        screen_batch(store, b, archs, space, evaluator)
        evaluated += run_batch(store, b, archs, space, evaluator, executor, cfg, bar, strategy.objectives)
        if saved_at != (b, "told"):  # a kill between saving 'told' and marking it: told already
            results = told_results(store, b, len(archs), evaluator)
            feedback = trial_objectives if strategy.objectives == 2 else trial_reward
            told = [i for i in range(len(archs)) if results[i]["status"] != "screened"]
            strategy.tell([archs[i] for i in told], [feedback(results[i], cfg.reward) for i in told])
            run.save_strategy(strategy, b, "told")
            store.add_batch_stats(b, strategy.stats())
        store.mark_told(b)
        live.after_batch()


def _converged(store: TrialStore, cfg: SearchConfig) -> bool:
    """The policy proposes only what is stored: `patience` batches in a row of repeats, or more
    free repeats than `max_repeats` x trials (a trickle of new archs must not spin forever)."""
    repeats = store.count_reused()
    return store.stale_batches() >= cfg.search.patience or repeats >= cfg.search.max_repeats * cfg.search.trials


def finished_readonly(cfg: SearchConfig, run: RunDir, space: SearchSpace, start: float) -> SearchOutcome:
    """A read-only run directory: print a finished run's results without writing anything."""
    if not run.store_path.is_file():
        raise DistillnasError(f"run directory {str(run)!r} is not writable; give a writable --run-dir")
    saved = run.saved_config() or {}
    diff = config_differences(saved, cfg)
    if diff:
        raise DistillnasError(f"run directory {str(run)!r} is read-only and was made by a different config "
                              f"(differs in: {', '.join(diff[:5])})")
    store = run.store(readonly=True)
    try:
        if store.count_paid() < cfg.search.trials or not store.is_told(store.last_batch()):
            raise DistillnasError(f"run directory {str(run)!r} is read-only and its search is unfinished "
                                  f"({store.count_paid()} of {cfg.search.trials} trials); make it writable to resume")
        reward = RewardConfig.model_validate(saved.get("reward", cfg.reward.model_dump()))  # with its measured reference
        best = run.read_best().get("archs") or select_best(store.trials(), reward, cfg.search.top_k)
        return SearchOutcome(run.path, store.count_paid(), 0, best, time.perf_counter() - start,
                             failures=failure_summary(store), readonly=True, reward=reward,
                             accurate=most_accurate(store.trials(), reward, 3))
    finally:
        store.close()


def failure_summary(store: TrialStore) -> dict[str, Any]:
    """Counts of trials by status other than ok, and the first error (for the closing message)."""
    bad = [t for t in store.trials() if t["status"] not in ("ok", "screened")]
    counts: dict[str, int] = {}
    for t in bad:
        counts[t["status"]] = counts.get(t["status"], 0) + 1
    return {"counts": counts, "first_error": bad[0]["error"] if bad else ""}
