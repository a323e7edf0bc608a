"""The search loop: strategy -> executor -> evaluator -> store -> strategy.

It knows no concrete class: spaces, strategies, evaluators and executors come from their
registries by name. A run lives in a directory (config.yaml, trials.sqlite, strategy.pt,
teacher/, teacher_cache/, best.yaml). Re-running with the same directory resumes it:

  1. the strategy's archs for batch b are stored before any of them is evaluated;
  2. every finished trial is inserted at once, keyed (batch, slot);
  3. after the batch is complete the strategy is told, its state saved, the batch marked.
A kill at any point loses no finished trial, and a restart evaluates only missing slots.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .config import SearchConfig, TrainConfig, validate
from .distill import build_loss, parse_loss_spec
from .errors import DistillnasError, SearchInterrupted
from .evaluators import EvalContext, evaluate_trial, prime_state
from .models import canonical_arch
from .io import atomic_torch_save, atomic_write_text, ensure_dir, read_yaml_file, safe_torch_load
from .execution import build_executor
from .reward import meets_target, trial_objectives, trial_reward
from .runconfig import config_differences
from .spaces import SearchSpace, build_space
from .store import TrialStore
from .strategies import Strategy, build_strategy

log = logging.getLogger("distillnas")
CONFIG_FILE, STORE_FILE, STRATEGY_FILE, BEST_FILE = "config.yaml", "trials.sqlite", "strategy.pt", "best.yaml"


@dataclass
class SearchOutcome:
    run_dir: Path
    trials: int
    evaluated: int  # trials actually run in this call (not resumed, not reused)
    best: list[dict[str, Any]]
    wall_s: float
    failures: dict[str, Any] = field(default_factory=dict)  # {"counts": {status: n}, "first_error": str}
    readonly: bool = False  # a finished run read from a read-only directory: nothing was written
    reused: int = 0  # repeats of stored archs: told to the strategy, not paid for
    converged: bool = False  # ended early: `patience` batches in a row proposed only stored archs


def run_dir_of(cfg: SearchConfig) -> Path:
    return Path(cfg.run_dir or f"runs/{cfg.name}")


def check_config(cfg: SearchConfig) -> None:
    """Bad values found before any work: names, sizes, the space's own settings."""
    space = build_space(cfg.space.name, **cfg.space.options())
    build_strategy(cfg.strategy, space.sizes, space.kinds, cfg.reward.target)
    from .evaluators import EVALUATORS
    from .execution import EXECUTORS

    if cfg.evaluator.name != "supernet":
        EVALUATORS.get(cfg.evaluator.name)
    elif cfg.execution.executor != "local":
        raise DistillnasError("the supernet evaluator shares weights inside one process: use execution.executor=local")
    elif space.name != "addon":
        raise DistillnasError(f"the supernet evaluator needs space.name=addon, not {space.name!r}")
    else:
        from .evaluators.supernet import check_memory_limit
        from .data import prepare_data

        ds, _ = prepare_data(cfg.data)
        check_memory_limit(space, cfg.evaluator.supernet.memory_limit, ds.num_classes, ds.in_channels)  # type: ignore[arg-type]
    EXECUTORS.get(cfg.execution.executor)
    if cfg.evaluator.name == "table":
        if not hasattr(space, "code"):
            raise DistillnasError(f"the table evaluator needs a space with table codes (resnet_depth), not {space.name!r}")
        from .evaluators import read_table

        if not cfg.evaluator.table:
            raise DistillnasError("the table evaluator needs evaluator.table: a file of 'code accuracy' lines")
        read_table(cfg.evaluator.table)


@dataclass
class Setup:
    """What check_setup loaded: handed to this process's evaluator so nothing is loaded twice."""

    data: tuple | None = None  # (dataset, splits)
    teacher: Any = None  # the loaded teacher, when one is given and the loss needs it


def evaluator_loss(cfg: SearchConfig) -> tuple[str, str]:
    """(loss spec, the config key that sets it) of the configured evaluator."""
    if cfg.evaluator.name == "supernet":
        return cfg.evaluator.supernet.loss.name, "evaluator.supernet.loss.name"
    if cfg.evaluator.name == "proxy":
        return cfg.evaluator.proxy.loss.name, "evaluator.proxy.loss.name"
    return "ce", ""


def check_setup(cfg: SearchConfig) -> Setup:
    """Load and check the dataset and the teacher before anything is written.

    Everything that is not about a candidate architecture is found here: a missing data
    root, an unreadable or refused teacher, a teacher with other classes, channels or rows
    than the data, non-finite teacher outputs, oracle KD without an ensemble. An error is a
    `DistillnasError` and the run directory is left as it was (or not created).
    """
    from .models import build_model
    from .teachers import load_teacher
    from .data import prepare_data
    from .train import check_teacher_for_loss

    if cfg.evaluator.name == "table":
        return Setup()
    ds, splits = prepare_data(cfg.data)
    spec, key = evaluator_loss(cfg)
    loss = build_loss(spec)
    teacher = None
    if loss.needs_teacher:
        if cfg.teacher.spec:
            teacher = load_teacher(list(cfg.teacher.spec), ds)
            check_teacher_for_loss(spec, teacher, where=key)
        else:
            build_model(cfg.teacher.arch, ds.num_classes, ds.in_channels, ds.input_size)
            if "od" in {n for _, n in parse_loss_spec(spec)} and len(cfg.teacher.seeds) < 2:
                raise DistillnasError(f"{key}='od' (oracle KD) needs an ensemble: give teacher.seeds two or more "
                                      f"seeds (got {cfg.teacher.seeds}), or set {key}=kd")
    return Setup((ds, splits), teacher)


def open_run(cfg: SearchConfig) -> Path:
    """Create the run directory, or check that an existing one was made by this config.

    A run whose config changed before any trial succeeded holds nothing to lose (say, a
    first attempt with a wrong teacher path, whose trials all failed): it starts over with
    the new config instead of being refused forever; its old store is kept beside it."""
    run_dir = run_dir_of(cfg)
    ensure_dir(run_dir, "run directory")
    saved_path = run_dir / CONFIG_FILE
    resolved = cfg.model_dump()
    saved = read_yaml_file(saved_path, "saved config") if saved_path.is_file() else None
    if saved is not None:
        diff = config_differences(saved, resolved)
        if diff and _successful_trials(run_dir) > 0:
            shown = ", ".join(diff[:5]) + (" ..." if len(diff) > 5 else "")
            raise DistillnasError(f"run directory {str(run_dir)!r} was made by a different config (differs in: "
                                  f"{shown}); refusing to resume. Use another --run-dir, or delete it to start fresh")
        if diff:
            kept = _set_aside(run_dir)
            log.warning("run directory %s has no successful trial and its config changed (%s): starting it over "
                        "with the new config%s", run_dir, ", ".join(diff[:5]), f"; old store kept as {kept}" if kept else "")
    elif (run_dir / STORE_FILE).exists():
        raise DistillnasError(f"run directory {str(run_dir)!r} has trials but no {CONFIG_FILE}; "
                              "use another --run-dir, or delete it to start fresh")
    if saved != resolved:  # new, resumable keys changed, or started over: write what runs now
        atomic_write_text(saved_path, yaml.safe_dump(resolved, sort_keys=False))
    return run_dir


def _successful_trials(run_dir: Path) -> int:
    path = run_dir / STORE_FILE
    if not path.is_file():
        return 0
    store = TrialStore(path)
    try:
        return store.count("ok")
    finally:
        store.close()


def _set_aside(run_dir: Path) -> str:
    """Rename the store (closed, so its WAL is merged) and drop the controller state of a run
    that starts over; the name the old store was kept under, or '' when there was none."""
    for name in (STRATEGY_FILE, "supernet.pt"):
        (run_dir / name).unlink(missing_ok=True)
    path = run_dir / STORE_FILE
    if not path.is_file():
        return ""
    kept = run_dir / f"trials-replaced-{time.strftime('%Y%m%d-%H%M%S')}.sqlite"
    os.replace(path, kept)
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return kept.name


def prepare_teacher(cfg: SearchConfig, run_dir: Path, console: Console | None) -> list[str]:
    """Teacher specs for the evaluator ([] when its loss needs none); trains the configured
    ensemble into run_dir/teacher when no teacher is given."""
    if not build_loss(evaluator_loss(cfg)[0]).needs_teacher:
        return []
    if cfg.teacher.spec:
        return list(cfg.teacher.spec)
    from .teachers import train_teachers

    tdir = run_dir / "teacher"
    missing = [s for s in cfg.teacher.seeds if not _member(cfg, run_dir, s)]
    if missing:
        if console:
            console.print(f"no teacher given: training {len(missing)} x {cfg.teacher.arch} on {cfg.data.name} "
                          f"({cfg.teacher.epochs:g} epochs each) into {tdir}")
        tcfg = validate(TrainConfig, {"optim": {"epochs": cfg.teacher.epochs}, "loss": {"name": "ce"},
                                      "augment": "random", "channels_last": cfg.execution.channels_last})
        for seed in missing:
            train_teachers(cfg.teacher.arch, [seed], cfg.data, tcfg, tdir, progress=console is not None)
    return teacher_members(cfg, run_dir)


def _member(cfg: SearchConfig, run_dir: Path, seed: int) -> list[Path]:
    return sorted((run_dir / "teacher").glob(f"{canonical_arch(cfg.teacher.arch)}-*-seed{seed}.pt"))


def teacher_members(cfg: SearchConfig, run_dir: Path) -> list[str]:
    """The given teacher specs, or the checkpoints of the ensemble trained into the run."""
    return list(cfg.teacher.spec) or [str(p) for s in cfg.teacher.seeds for p in _member(cfg, run_dir, s)]


def trial_threads(cfg: SearchConfig) -> int:
    """Torch threads per trial: Ray workers get their CPU share (oversubscribed OpenMP threads
    were measured 20x slower on 2 cores); local trials keep torch's default unless set."""
    if cfg.execution.threads:
        return cfg.execution.threads
    return max(1, int(cfg.execution.cpus_per_trial)) if cfg.execution.executor == "ray" else 0


def save_strategy(strategy: Strategy, path: Path, batch: int, phase: str) -> None:
    atomic_torch_save(path, {"state": strategy.state_dict(), "batch": batch, "phase": phase})


def load_strategy(strategy: Strategy, path: Path, store: TrialStore) -> tuple[int, str] | None:
    """Restore the controller; (batch, phase) it was saved at, or None for a fresh one.

    The controller must not have seen more than the store holds: a store emptied or replaced
    under a trained controller would silently pair its state with other trials."""
    if not path.is_file():
        return None
    saved = safe_torch_load(path, "controller state", "delete it to restart the controller from scratch")
    batch, phase = int(saved["batch"]), str(saved["phase"])
    needed = batch if phase in ("asked", "told") else batch - 1  # 'trained' is saved before batch b is asked
    if store.last_batch() < needed:
        raise DistillnasError(f"{str(path)!r} has seen {batch + (phase != 'trained')} batches but {str(store.path)!r} "
                              f"holds {store.last_batch() + 1}: the store was emptied or replaced. Restore it, or "
                              f"delete {path.name} (and supernet.pt) to restart the controller on the stored trials")
    try:
        strategy.load_state_dict(saved["state"])
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        raise DistillnasError(f"{str(path)!r} was written by another version of strategy "
                              f"{type(strategy).__name__} ({type(e).__name__}); delete it to restart the controller "
                              "on the stored trials") from None
    return batch, phase


def run_search(cfg: SearchConfig, console: Console | None = None, progress: bool = True) -> SearchOutcome:
    """Run (or resume) a search. Everything about the setup is checked before the run
    directory is written; Ctrl-C raises SearchInterrupted with the store consistent."""
    start = time.perf_counter()
    check_config(cfg)
    run_dir = run_dir_of(cfg)
    if run_dir.is_dir() and not os.access(run_dir, os.W_OK):
        return finished_readonly(cfg, run_dir, start)
    setup = check_setup(cfg)
    run_dir = open_run(cfg)
    space = build_space(cfg.space.name, **cfg.space.options())
    teacher = prepare_teacher(cfg, run_dir, console)
    ctx = EvalContext(space=space.config(), data=cfg.data.model_dump(), evaluator=cfg.evaluator.model_dump(),
                      cost=cfg.cost.model_dump(), teacher=teacher, run_dir=str(run_dir),
                      threads=trial_threads(cfg), channels_last=cfg.execution.channels_last)
    if setup.data is not None and (setup.teacher is not None or not teacher):
        prime_state(ctx, *setup.data, setup.teacher)
    store = TrialStore(run_dir / STORE_FILE)
    strategy = build_strategy(cfg.strategy, space.sizes, space.kinds, cfg.reward.target)
    saved_at = load_strategy(strategy, run_dir / STRATEGY_FILE, store)
    supernet = None
    if cfg.evaluator.name == "supernet":
        from .evaluators.supernet import Supernet

        supernet = Supernet(cfg, space, teacher, run_dir)  # type: ignore[arg-type]
        supernet.load()
    evaluate = supernet.evaluate if supernet is not None else evaluate_trial
    executor = build_executor(cfg.execution) if store.count_paid() < cfg.search.trials else None
    evaluated, converged = 0, False
    try:
        with _SearchProgress(progress and console is not None, cfg.search.trials, store, cfg) as bar:
            while True:
                b = store.next_batch()
                archs = store.batch_archs(b)
                if archs is None:
                    left = cfg.search.trials - store.count_paid()
                    if left <= 0:
                        break
                    if _converged(store, cfg):
                        converged = True
                        break
                    if supernet is not None and supernet.trained_batches <= b:
                        supernet.train(strategy, cfg.evaluator.supernet.epochs_per_batch)
                        supernet.trained_batches = b + 1
                        supernet.save()
                        save_strategy(strategy, run_dir / STRATEGY_FILE, b, "trained")
                    archs = [space.validate(a) for a in strategy.ask(min(cfg.search.batch_size, left))]
                    store.add_batch(b, archs)
                    save_strategy(strategy, run_dir / STRATEGY_FILE, b, "asked")
                evaluated += _run_batch(store, b, archs, space, ctx, executor, cfg, bar, evaluate,
                                        reuse=supernet is None)
                if saved_at != (b, "told"):  # a kill between saving 'told' and marking it: told already
                    results = store.batch_results(b)
                    feedback = trial_objectives if getattr(strategy, "objectives", 1) == 2 else trial_reward
                    strategy.tell(archs, [feedback(results[i], cfg.reward) for i in range(len(archs))])
                    save_strategy(strategy, run_dir / STRATEGY_FILE, b, "told")
                    store.add_batch_stats(b, strategy.stats())
                store.mark_told(b)
    except KeyboardInterrupt:
        raise SearchInterrupted(store.count(), str(run_dir)) from None
    finally:
        if executor is not None:
            executor.close()
    extra: dict[str, Any] = {}
    if supernet is not None:
        best = supernet.select(strategy, cfg.search.top_k, store.trials("ok"))
        extra = {"memory_limit_params": supernet.limit, "backbone_params": supernet.backbone_params,
                 "supernet_train_s": supernet.train_s, "selection_s": supernet.select_s}
        if not best:
            raise DistillnasError(f"no sampled student fits the memory limit of {supernet.limit:,} params; "
                                  "raise evaluator.supernet.memory_limit or add fewer add-on layers")
    elif getattr(strategy, "objectives", 1) == 2:
        best = pareto_front(store, cfg)
        extra = {"pareto_front": True}
    else:
        best = select_best(store, cfg, space)
    write_best(run_dir, cfg, space, best, extra)
    outcome = SearchOutcome(run_dir, store.count_paid(), evaluated, best, time.perf_counter() - start,
                            failures=failure_summary(store), reused=store.count() - store.count_paid(),
                            converged=converged)
    store.close()
    return outcome


def _converged(store: TrialStore, cfg: SearchConfig) -> bool:
    """The policy proposes only what is stored: `patience` batches in a row of repeats, or more
    free repeats than `max_repeats` x trials (a trickle of new archs must not spin forever)."""
    repeats = store.count() - store.count_paid()
    return store.stale_batches() >= cfg.search.patience or repeats >= cfg.search.max_repeats * cfg.search.trials


def finished_readonly(cfg: SearchConfig, run_dir: Path, start: float) -> SearchOutcome:
    """A read-only run directory: print a finished run's results without writing anything."""
    if not (run_dir / STORE_FILE).is_file():
        raise DistillnasError(f"run directory {str(run_dir)!r} is not writable; give a writable --run-dir")
    saved = read_yaml_file(run_dir / CONFIG_FILE, "saved config") if (run_dir / CONFIG_FILE).is_file() else {}
    diff = config_differences(saved, cfg.model_dump())
    if diff:
        raise DistillnasError(f"run directory {str(run_dir)!r} is read-only and was made by a different config "
                              f"(differs in: {', '.join(diff[:5])})")
    store = TrialStore(run_dir / STORE_FILE, readonly=True)
    try:
        if store.count_paid() < cfg.search.trials or not store.is_told(store.last_batch()):
            raise DistillnasError(f"run directory {str(run_dir)!r} is read-only and its search is unfinished "
                                  f"({store.count_paid()} of {cfg.search.trials} trials); make it writable to resume")
        best_path = run_dir / BEST_FILE
        best = (read_yaml_file(best_path, "best archs").get("archs") or []) if best_path.is_file() else \
            select_best(store, cfg, build_space(cfg.space.name, **cfg.space.options()))
        return SearchOutcome(run_dir, store.count_paid(), 0, best, time.perf_counter() - start,
                             failures=failure_summary(store), readonly=True)
    finally:
        store.close()


def failure_summary(store: TrialStore) -> dict[str, Any]:
    """Counts of trials by status other than ok, and the first error (for the closing message)."""
    bad = [t for t in store.trials() if t["status"] != "ok"]
    counts: dict[str, int] = {}
    for t in bad:
        counts[t["status"]] = counts.get(t["status"], 0) + 1
    return {"counts": counts, "first_error": bad[0]["error"] if bad else ""}


def _run_batch(store: TrialStore, b: int, archs: list, space: SearchSpace, ctx: EvalContext,  # noqa: ANN001
               executor, cfg: SearchConfig, bar: "_SearchProgress", evaluate, reuse: bool = True) -> int:  # noqa: ANN001
    """Evaluate the slots of batch b that have no stored result and return how many were paid.

    A repeat - of an arch stored before, or of one earlier in this batch - is free: its
    result is copied (marked `reused_from`) and told to the strategy like any other. Not
    under weight sharing, where the same arch scores differently as the weights train."""
    done = store.batch_results(b)
    todo: list[int] = []
    first: dict[str, int] = {}  # arch -> the slot of this batch that evaluates it
    copies: dict[int, int] = {}  # slot -> the slot it repeats
    for slot, tokens in enumerate(archs):
        arch = space.to_string(tokens)
        if slot in done:
            first.setdefault(arch, slot)
            continue
        seen = store.find(arch) if reuse else None
        if seen is not None:
            _store_copy(store, b, slot, seen, bar)
        elif reuse and arch in first:
            copies[slot] = first[arch]
        else:
            first[arch] = slot
            todo.append(slot)
    if todo:
        seed0 = cfg.strategy.seed * 100_003
        items = [(ctx, archs[slot], seed0 + b * 1000 + slot) for slot in todo]
        for i, result in executor.map(evaluate, items):
            r = result.as_dict()
            store.add_trial(b, todo[i], r)
            bar.update(r)
    if copies:
        results = store.batch_results(b)
        for slot, src in copies.items():
            _store_copy(store, b, slot, results[src], bar)
    return len(todo)


def _store_copy(store: TrialStore, b: int, slot: int, seen: dict[str, Any], bar: "_SearchProgress") -> None:
    reused = {**seen, "extra": {**seen["extra"], "reused_from": seen["id"]}, "wall_s": 0.0}
    store.add_trial(b, slot, reused)
    bar.update(reused)


def select_best(store: TrialStore, cfg: SearchConfig, space: SearchSpace) -> list[dict[str, Any]]:
    """Top-k distinct archs by reward among those that meet the target (all, if none does)."""
    ok = store.trials("ok")
    if not ok:
        return []
    pool = [t for t in ok if meets_target(t, cfg.reward)] or ok
    best: dict[str, dict[str, Any]] = {}
    for t in pool:
        r = trial_reward(t, cfg.reward)
        if t["arch"] not in best or r > best[t["arch"]]["reward"]:
            best[t["arch"]] = {"arch": t["arch"], "tokens": t["tokens"], "reward": r, "accuracy": t["accuracy"],
                               "latency_ms": t["latency_ms"], "macs": t["macs"], "params": t["params"],
                               "meets_target": meets_target(t, cfg.reward), "trial": t["id"]}
    return sorted(best.values(), key=lambda d: -d["reward"])[: cfg.search.top_k]


def pareto_front(store: TrialStore, cfg: SearchConfig) -> list[dict[str, Any]]:
    """Distinct archs within the target that no other one beats in both accuracy and cost,
    by accuracy (a multi-objective search returns the front, not a top-k)."""
    metric = cfg.reward.metric
    ok = {t["arch"]: t for t in store.trials("ok") if meets_target(t, cfg.reward)}
    pts = list(ok.values())
    front = [t for t in pts if not any(
        o["accuracy"] >= t["accuracy"] and o[metric] <= t[metric] and (o["accuracy"] > t["accuracy"] or
                                                                       o[metric] < t[metric]) for o in pts)]
    return [{"arch": t["arch"], "tokens": t["tokens"], "reward": trial_reward(t, cfg.reward), "accuracy": t["accuracy"],
             "latency_ms": t["latency_ms"], "macs": t["macs"], "params": t["params"], "meets_target": True,
             "trial": t["id"]} for t in sorted(front, key=lambda t: -t["accuracy"])]


def write_best(run_dir: Path, cfg: SearchConfig, space: SearchSpace, best: list[dict[str, Any]],
               extra: dict[str, Any] | None = None) -> Path:
    doc = {"space": space.config(), "reward": cfg.reward.model_dump(), **(extra or {}), "archs": best}
    return atomic_write_text(run_dir / BEST_FILE, yaml.safe_dump(doc, sort_keys=False))


def best_table(outcome: SearchOutcome, cfg: SearchConfig) -> Table:
    t = Table(title=f"best students of {outcome.run_dir} ({outcome.trials} trials, target {cfg.reward.metric} "
                    f"<= {cfg.reward.target:g})")
    for col in ("#", "reward", "top-1 (%)", "latency ms", "MMACs", "params", "target"):
        t.add_column(col, justify="right")
    for i, b in enumerate(outcome.best, 1):
        t.add_row(str(i), f"{b['reward']:.4f}", f"{100 * b['accuracy']:.2f}", f"{b['latency_ms']:.2f}",
                  f"{b['macs'] / 1e6:.2f}", f"{b['params']:,}", "met" if b["meets_target"] else "missed")
    return t


def print_best(outcome: SearchOutcome, cfg: SearchConfig, console: Console) -> None:
    """The table, then each arch string in full (they are too long for a column)."""
    if not outcome.best:
        counts = ", ".join(f"{n} {status}" for status, n in (outcome.failures.get("counts") or {}).items())
        console.print(f"[red]no trial of {outcome.run_dir} finished successfully ({counts or 'no trials'}); every "
                      f"trial's error is in {outcome.run_dir / STORE_FILE} (column 'error'). The first: "
                      f"{outcome.failures.get('first_error') or '-'}", soft_wrap=True)
        return
    console.print(best_table(outcome, cfg))
    for i, b in enumerate(outcome.best, 1):
        console.print(f"#{i} {b['arch']}", soft_wrap=True)
    console.print(f"best archs in {outcome.run_dir / BEST_FILE}; retrain with: "
                  f"distillnas train --from-run {outcome.run_dir} --top 1", soft_wrap=True)


class _SearchProgress:
    """Paid evaluations out of the budget, repeats (free), best reward so far, ETA."""

    def __init__(self, enabled: bool, total: int, store: TrialStore, cfg: SearchConfig) -> None:
        self.enabled, self.total, self.cfg = enabled, total, cfg
        self.done, self.reused = store.count_paid(), store.count() - store.count_paid()
        self.best = max((trial_reward(t, cfg.reward) for t in store.trials("ok")), default=0.0)
        self.failed = 0
        self.progress: Progress | None = None

    def __enter__(self) -> "_SearchProgress":
        if self.enabled:
            self.progress = Progress(TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("best reward {task.fields[best]:.4f}  repeats {task.fields[reused]}"
                                                "  failed {task.fields[failed]}"),
                                     TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
            self.progress.__enter__()
            self.task = self.progress.add_task("search", total=self.total, completed=self.done, best=self.best,
                                               failed=0, reused=self.reused)
        return self

    def update(self, r: dict[str, Any]) -> None:
        if "reused_from" in r.get("extra", {}):
            self.reused += 1
        else:
            self.done += 1
        self.best = max(self.best, trial_reward(r, self.cfg.reward))
        self.failed += r["status"] != "ok"
        if self.progress is not None:
            self.progress.update(self.task, completed=self.done, best=self.best, failed=self.failed,
                                 reused=self.reused)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(None, None, None)


def load_run(run_dir: str | Path) -> tuple[SearchConfig, dict[str, Any]]:
    """(config, best.yaml) of a finished search; clear errors for anything else."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file() or not (run_dir / STORE_FILE).is_file():
        raise DistillnasError(f"{str(run_dir)!r} is not a search run (no {CONFIG_FILE} and {STORE_FILE})")
    cfg = validate(SearchConfig, read_yaml_file(run_dir / CONFIG_FILE, "saved config"))
    best_path = run_dir / BEST_FILE
    best = read_yaml_file(best_path, "best archs") if best_path.is_file() else None
    if not best or not best.get("archs"):
        raise DistillnasError(f"run {str(run_dir)!r} has no finished successful trials yet (no archs in {BEST_FILE}); "
                              "run or resume the search first")
    return cfg, best


def retrain_from_run(run_dir: str | Path, top: int = 1, *, epochs: float | None = None, seeds: list[int] | None = None,
                     loss: str | None = None, device: str = "auto", progress: bool = False,
                     out_dir: str | Path | None = None, channels_last: str = "auto",
                     warn: Callable[[str], None] = log.warning) -> list:
    """Retrain the top archs of a run from scratch with its final-training config and teacher;
    checkpoints go to out_dir (default RUN/students)."""
    from .teachers import TeacherCache, load_teacher
    from .data import prepare_data
    from .train import train_student

    run_dir = Path(run_dir)
    cfg, best = load_run(run_dir)
    if top < 1:
        raise DistillnasError(f"--top must be >= 1, got {top}")
    if top > len(best["archs"]):
        warn(f"--top {top}, but {run_dir / BEST_FILE} holds {len(best['archs'])} arch(s): retraining those")
    final = cfg.final
    optim = {**final.optim.model_dump(), **({"epochs": epochs} if epochs is not None else {})}
    loss_cfg = {**final.loss.model_dump(), **({"name": loss} if loss else {})}
    tcfg = validate(TrainConfig, {"optim": optim, "loss": loss_cfg, "device": device,
                                  "channels_last": channels_last})
    students = ensure_dir(out_dir or run_dir / "students", "output directory (--out)")
    ds, splits = prepare_data(cfg.data)
    specs = teacher_members(cfg, run_dir)
    teacher = load_teacher(specs, ds) if specs and tcfg.loss.name != "ce" else None
    cache = TeacherCache(run_dir / "teacher_cache")
    store = TrialStore(run_dir / STORE_FILE)
    runs = []
    for entry in best["archs"][:top]:
        for seed in seeds or final.seeds:
            run = train_student(entry["arch"], tcfg, ds, splits, teacher=teacher, cache=cache, seed=seed,
                                out_dir=students, space=best["space"],
                                run_config={"search": str(run_dir), "train": tcfg.model_dump(),
                                            "data": cfg.data.model_dump()}, progress=progress)
            store.add_final(run.arch, run.loss, seed, run.status, run.metrics.get("test"), run.params,
                            tcfg.optim.epochs, run.checkpoint)
            runs.append(run)
    store.close()
    return runs
