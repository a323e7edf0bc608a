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

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .config import SearchConfig, TrainConfig, validate
from .errors import DistillnasError
from .evaluators import EvalContext, evaluate_trial
from .execution import build_executor
from .reward import meets_target, trial_reward
from .runconfig import config_differences
from .spaces import SearchSpace, build_space
from .store import TrialStore
from .strategies import Strategy, build_strategy

CONFIG_FILE, STORE_FILE, STRATEGY_FILE, BEST_FILE = "config.yaml", "trials.sqlite", "strategy.pt", "best.yaml"


@dataclass
class SearchOutcome:
    run_dir: Path
    trials: int
    evaluated: int  # trials actually run in this call (not resumed, not reused)
    best: list[dict[str, Any]]
    wall_s: float


def run_dir_of(cfg: SearchConfig) -> Path:
    return Path(cfg.run_dir or f"runs/{cfg.name}")


def check_config(cfg: SearchConfig) -> None:
    """Bad values found before any work: names, sizes, the space's own settings."""
    space = build_space(cfg.space.name, **cfg.space.options())
    build_strategy(cfg.strategy, space.sizes, space.kinds)
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
        from .train import prepare_data

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


def open_run(cfg: SearchConfig) -> Path:
    """Create the run directory, or check that an existing one was made by this config."""
    run_dir = run_dir_of(cfg)
    saved_path = run_dir / CONFIG_FILE
    resolved = cfg.model_dump()
    if saved_path.is_file():
        saved = yaml.safe_load(saved_path.read_text()) or {}
        diff = config_differences(saved, resolved)
        if diff:
            shown = ", ".join(diff[:5]) + (" ..." if len(diff) > 5 else "")
            raise DistillnasError(f"run directory {str(run_dir)!r} was made by a different config (differs in: "
                                  f"{shown}); refusing to resume. Use another --run-dir, or delete it to start fresh")
    elif (run_dir / STORE_FILE).exists():
        raise DistillnasError(f"run directory {str(run_dir)!r} has trials but no {CONFIG_FILE}; "
                              "use another --run-dir, or delete it to start fresh")
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = saved_path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(resolved, sort_keys=False))
    os.replace(tmp, saved_path)
    return run_dir


def prepare_teacher(cfg: SearchConfig, run_dir: Path, console: Console | None) -> list[str]:
    """Teacher specs for the evaluator; trains the configured ensemble into run_dir/teacher when none is given."""
    loss = {"proxy": cfg.evaluator.proxy.loss.name, "supernet": cfg.evaluator.supernet.loss.name}
    if loss.get(cfg.evaluator.name, "ce") == "ce":
        return list(cfg.teacher.spec)
    if cfg.teacher.spec:
        return list(cfg.teacher.spec)
    from .teachers import train_teachers

    tdir = run_dir / "teacher"
    missing = [s for s in cfg.teacher.seeds if not list(tdir.glob(f"*-seed{s}.pt"))]
    if missing:
        if console:
            console.print(f"no teacher given: training {len(missing)} x {cfg.teacher.arch} on {cfg.data.name} "
                          f"({cfg.teacher.epochs:g} epochs each) into {tdir}")
        tcfg = validate(TrainConfig, {"optim": {"epochs": cfg.teacher.epochs}, "loss": {"name": "ce"},
                                      "augment": "random"})
        for seed in missing:
            train_teachers(cfg.teacher.arch, [seed], cfg.data, tcfg, tdir, progress=console is not None)
    return [str(tdir / p.name) for p in sorted(tdir.glob("*.pt"))]


def trial_threads(cfg: SearchConfig) -> int:
    """Torch threads per trial: Ray workers get their CPU share (oversubscribed OpenMP threads
    were measured 20x slower on 2 cores); local trials keep torch's default unless set."""
    if cfg.execution.threads:
        return cfg.execution.threads
    return max(1, int(cfg.execution.cpus_per_trial)) if cfg.execution.executor == "ray" else 0


def save_strategy(strategy: Strategy, path: Path, batch: int, phase: str) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"state": strategy.state_dict(), "batch": batch, "phase": phase}, tmp)
    os.replace(tmp, path)


def load_strategy(strategy: Strategy, path: Path) -> None:
    if path.is_file():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise DistillnasError(f"{str(path)!r} is truncated or unreadable ({type(e).__name__}); "
                                  "delete it to restart the controller from scratch") from None
        strategy.load_state_dict(saved["state"])


def run_search(cfg: SearchConfig, console: Console | None = None, progress: bool = True) -> SearchOutcome:
    start = time.perf_counter()
    check_config(cfg)
    run_dir = open_run(cfg)
    space = build_space(cfg.space.name, **cfg.space.options())
    teacher = prepare_teacher(cfg, run_dir, console)
    ctx = EvalContext(space=space.config(), data=cfg.data.model_dump(), evaluator=cfg.evaluator.model_dump(),
                      cost=cfg.cost.model_dump(), teacher=teacher, run_dir=str(run_dir),
                      threads=trial_threads(cfg))
    strategy = build_strategy(cfg.strategy, space.sizes, space.kinds)
    load_strategy(strategy, run_dir / STRATEGY_FILE)
    store = TrialStore(run_dir / STORE_FILE)
    supernet = None
    if cfg.evaluator.name == "supernet":
        from .evaluators.supernet import Supernet

        supernet = Supernet(cfg, space, teacher, run_dir)  # type: ignore[arg-type]
        supernet.load()
    evaluate = supernet.evaluate if supernet is not None else evaluate_trial
    executor = build_executor(cfg.execution) if store.count() < cfg.search.trials else None
    evaluated = 0
    try:
        with _SearchProgress(progress and console is not None, cfg.search.trials, store, cfg) as bar:
            while True:
                b = store.next_batch()
                archs = store.batch_archs(b)
                if archs is None:
                    left = cfg.search.trials - store.count()
                    if left <= 0:
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
                results = store.batch_results(b)
                rewards = [trial_reward(results[i], cfg.reward) for i in range(len(archs))]
                strategy.tell(archs, rewards)
                save_strategy(strategy, run_dir / STRATEGY_FILE, b, "told")
                store.mark_told(b)
    finally:
        if executor is not None:
            executor.close()
    extra: dict[str, Any] = {}
    if supernet is not None:
        best = supernet.select(strategy, cfg.search.top_k)
        extra = {"memory_limit_params": supernet.limit, "backbone_params": supernet.backbone_params,
                 "supernet_train_s": supernet.train_s, "selection_s": supernet.select_s}
        if not best:
            raise DistillnasError(f"no sampled student fits the memory limit of {supernet.limit:,} params; "
                                  "raise evaluator.supernet.memory_limit or add fewer add-on layers")
    else:
        best = select_best(store, cfg, space)
    write_best(run_dir, cfg, space, best, extra)
    outcome = SearchOutcome(run_dir, store.count(), evaluated, best, time.perf_counter() - start)
    store.close()
    return outcome


def _run_batch(store: TrialStore, b: int, archs: list, space: SearchSpace, ctx: EvalContext,  # noqa: ANN001
               executor, cfg: SearchConfig, bar: "_SearchProgress", evaluate, reuse: bool = True) -> int:  # noqa: ANN001
    """Evaluate the slots of batch b that have no stored result; reuse results of archs seen
    before (not under weight sharing, where the same arch scores differently as weights train)."""
    done = store.batch_results(b)
    todo = []
    for slot, tokens in enumerate(archs):
        if slot in done:
            continue
        seen = store.find(space.to_string(tokens)) if reuse else None
        if seen is not None:
            reused = {**seen, "extra": {**seen["extra"], "reused_from": seen["id"]}, "wall_s": 0.0}
            store.add_trial(b, slot, reused)
            bar.update(reused)
        else:
            todo.append(slot)
    if not todo:
        return 0
    seed0 = cfg.strategy.seed * 100_003
    items = [(ctx, archs[slot], seed0 + b * 1000 + slot) for slot in todo]
    for i, result in executor.map(evaluate, items):
        r = result.as_dict()
        store.add_trial(b, todo[i], r)
        bar.update(r)
    return len(todo)


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


def write_best(run_dir: Path, cfg: SearchConfig, space: SearchSpace, best: list[dict[str, Any]],
               extra: dict[str, Any] | None = None) -> Path:
    path = run_dir / BEST_FILE
    doc = {"space": space.config(), "reward": cfg.reward.model_dump(), **(extra or {}), "archs": best}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


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
        console.print(f"[red]no trial of {outcome.run_dir} finished successfully; see trials.sqlite for the errors")
        return
    console.print(best_table(outcome, cfg))
    for i, b in enumerate(outcome.best, 1):
        console.print(f"#{i} {b['arch']}", soft_wrap=True)
    console.print(f"best archs in {outcome.run_dir / BEST_FILE}; retrain with: "
                  f"distillnas train --from-run {outcome.run_dir} --top 1", soft_wrap=True)


class _SearchProgress:
    """Trials done, best reward so far, ETA."""

    def __init__(self, enabled: bool, total: int, store: TrialStore, cfg: SearchConfig) -> None:
        self.enabled, self.total, self.cfg = enabled, total, cfg
        self.done = store.count()
        self.best = max((trial_reward(t, cfg.reward) for t in store.trials("ok")), default=0.0)
        self.failed = 0
        self.progress: Progress | None = None

    def __enter__(self) -> "_SearchProgress":
        if self.enabled:
            self.progress = Progress(TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("best reward {task.fields[best]:.4f}  failed {task.fields[failed]}"),
                                     TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
            self.progress.__enter__()
            self.task = self.progress.add_task("search", total=self.total, completed=self.done, best=self.best,
                                               failed=0)
        return self

    def update(self, r: dict[str, Any]) -> None:
        self.done += 1
        self.best = max(self.best, trial_reward(r, self.cfg.reward))
        self.failed += r["status"] != "ok"
        if self.progress is not None:
            self.progress.update(self.task, completed=self.done, best=self.best, failed=self.failed)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(None, None, None)


def load_run(run_dir: str | Path) -> tuple[SearchConfig, dict[str, Any]]:
    """(config, best.yaml) of a finished search; clear errors for anything else."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file() or not (run_dir / STORE_FILE).is_file():
        raise DistillnasError(f"{str(run_dir)!r} is not a search run (no {CONFIG_FILE} and {STORE_FILE})")
    cfg = validate(SearchConfig, yaml.safe_load((run_dir / CONFIG_FILE).read_text()))
    best_path = run_dir / BEST_FILE
    best = yaml.safe_load(best_path.read_text()) if best_path.is_file() else None
    if not best or not best.get("archs"):
        raise DistillnasError(f"run {str(run_dir)!r} has no finished successful trials yet (no archs in {BEST_FILE}); "
                              "run or resume the search first")
    return cfg, best


def retrain_from_run(run_dir: str | Path, top: int = 1, *, epochs: float | None = None, seeds: list[int] | None = None,
                     loss: str | None = None, device: str = "auto", progress: bool = False) -> list:
    """Retrain the top archs of a run from scratch with its final-training config and teacher."""
    from .teachers import TeacherCache, load_teacher
    from .train import prepare_data, train_student

    run_dir = Path(run_dir)
    cfg, best = load_run(run_dir)
    if top < 1:
        raise DistillnasError(f"--top must be >= 1, got {top}")
    final = cfg.final
    optim = final.optim.model_copy(update={"epochs": epochs}) if epochs is not None else final.optim
    loss_cfg = final.loss.model_copy(update={"name": loss}) if loss else final.loss
    tcfg = validate(TrainConfig, {"optim": optim.model_dump(), "loss": loss_cfg.model_dump(), "device": device})
    ds, splits = prepare_data(cfg.data)
    specs = list(cfg.teacher.spec) or sorted(str(p) for p in (run_dir / "teacher").glob("*.pt"))
    teacher = load_teacher(specs, ds) if specs and tcfg.loss.name != "ce" else None
    cache = TeacherCache(run_dir / "teacher_cache")
    store = TrialStore(run_dir / STORE_FILE)
    runs = []
    for entry in best["archs"][:top]:
        for seed in seeds or final.seeds:
            run = train_student(entry["arch"], tcfg, ds, splits, teacher=teacher, cache=cache, seed=seed,
                                out_dir=run_dir / "students", space=best["space"],
                                run_config={"search": str(run_dir), "train": tcfg.model_dump(),
                                            "data": cfg.data.model_dump()}, progress=progress)
            store.add_final(run.arch, run.loss, seed, run.status, run.metrics.get("test"), run.params,
                            tcfg.optim.epochs, run.checkpoint)
            runs.append(run)
    store.close()
    return runs
