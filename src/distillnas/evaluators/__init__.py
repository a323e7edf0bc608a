"""Evaluators: pure functions of (arch, evaluation context, seed) -> TrialResult.

The context holds only plain config, so a trial can run in another process or on another
host (Ray) and be retried. Expensive per-process state (dataset, teacher, its cached
outputs) is built once per process and reused across trials.
"""
from __future__ import annotations

import hashlib
import json
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..benchmarks import table_path
from ..config import CostConfig, DataConfig, EvaluatorConfig, TrainConfig, validate
from ..cost import MEASURERS, LatencyCache, count_macs, count_params
from ..data import prepare_data
from ..errors import DistillnasError, SetupError
from ..registry import Registry
from ..spaces import SearchSpace, build_space
from ..teachers import TeacherCache, load_teacher


@dataclass
class TrialResult:
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
    """Everything a worker needs to evaluate an arch, as plain data."""

    space: dict
    data: dict
    evaluator: dict
    cost: dict
    teacher: list[str]
    run_dir: str
    device: str = "auto"
    threads: int = 0
    channels_last: str = "auto"

    @property
    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


_STATE: dict[str, dict] = {}  # per-process memo: context key -> built objects


def _state(ctx: EvalContext) -> dict:
    if ctx.key not in _STATE:
        cost = validate(CostConfig, ctx.cost)
        measure = MEASURERS.build(cost.latency, warmup=cost.warmup, repeats=cost.repeats) \
            if cost.latency != "none" else MEASURERS.build("none")
        _STATE[ctx.key] = {"space": build_space(**ctx.space), "evaluator": validate(EvaluatorConfig, ctx.evaluator),
                           "latency": LatencyCache(measure, Path(ctx.run_dir) / "latency.json" if ctx.run_dir else None)}
    return _STATE[ctx.key]


def prime_state(ctx: EvalContext, ds, splits, teacher) -> None:  # noqa: ANN001
    """Hand this process's evaluator the dataset and teacher the setup check already loaded
    (the local executor would otherwise load them a second time)."""
    st = _state(ctx)
    st.update(data=(ds, splits), teacher=teacher,
              cache=TeacherCache(Path(ctx.run_dir) / "teacher_cache" if ctx.run_dir else None))


def _load_setup(ctx: EvalContext) -> None:
    """Dataset, teacher and cache for this process, all or nothing. They were checked before
    the search began, so a failure here is about this worker's environment (a missing mount
    on a Ray node, say), never about the arch: it is raised as SetupError, not stored."""
    try:
        ds, splits = prepare_data(validate(DataConfig, ctx.data))
        teacher = load_teacher(ctx.teacher, ds) if ctx.teacher else None
    except Exception as e:
        raise SetupError(f"this worker cannot load the search's data or teacher: {str(e).splitlines()[0][:300]}") \
            from None
    prime_state(ctx, ds, splits, teacher)


def measure_costs(space: SearchSpace, tokens: tuple[int, ...], arch: str, shape: tuple[int, int, int],
                  num_classes: int, latency: LatencyCache) -> tuple[torch.nn.Module, dict[str, Any]]:
    c, h, _ = shape
    model = space.build(tokens, num_classes, c, h)
    input_shape = (1, c, h, h)
    return model, {"params": count_params(model), "macs": count_macs(model, input_shape),
                   "latency_ms": latency.get(arch, model, input_shape)}


def _proxy(ctx: EvalContext, tokens: tuple[int, ...], seed: int) -> TrialResult:
    """AKD's proxy: train briefly on mini-train (KD from the cached teacher, or CE), score on mini-val."""
    from ..train import train_student

    st = _state(ctx)
    space, ev = st["space"], st["evaluator"]
    if "data" not in st:
        _load_setup(ctx)
    ds, splits = st["data"]
    arch = space.to_string(tokens)
    _, costs = measure_costs(space, tokens, arch, (ds.in_channels, ds.input_size, ds.input_size), ds.num_classes,
                             st["latency"])
    p = ev.proxy
    cfg = validate(TrainConfig, {
        "optim": {"epochs": p.epochs, "warmup_epochs": p.warmup_epochs, "batch_size": p.batch_size, "lr": p.lr,
                  "weight_decay": p.weight_decay},
        "loss": p.loss.model_dump(), "augment": p.augment, "teacher_views": p.teacher_views, "device": ctx.device,
        "channels_last": ctx.channels_last})
    run = train_student(arch, cfg, ds, splits, teacher=st["teacher"], cache=st["cache"], seed=seed,
                        train_split="minitrain", eval_splits=("minival",), space=space.config())
    return TrialResult(arch, list(tokens), run.status, run.metrics.get("minival"), error=run.error,
                       extra={"images_per_s": run.images_per_s}, **costs)


def read_table(path: str) -> dict[str, float]:
    """'code accuracy' lines (accuracy in %) -> {code: accuracy in [0, 1]}; `path` may also
    name a packaged table (distillnas.benchmarks, e.g. diswot_s1_kd)."""
    table = {}
    try:
        for n, line in enumerate(table_path(path).read_text().splitlines(), 1):
            if line.strip():
                code, value = line.split()
                table[code] = float(value) / 100.0
    except FileNotFoundError:
        raise DistillnasError(f"benchmark table {path!r} does not exist") from None
    except ValueError:
        raise DistillnasError(f"benchmark table {path!r}, line {n}: expected 'code accuracy'") from None
    return table


def _table(ctx: EvalContext, tokens: tuple[int, ...], seed: int) -> TrialResult:
    """Look the accuracy up in a tabular benchmark (diswot_s1: CIFAR-100, 32x32); costs from the model."""
    st = _state(ctx)
    space, ev = st["space"], st["evaluator"]
    if "table" not in st:
        if not ev.table:
            raise DistillnasError("the table evaluator needs evaluator.table: a file of 'code accuracy' lines")
        st["table"] = read_table(ev.table)
        st["costs"] = {}
    code = space.code(tokens) if hasattr(space, "code") else space.to_string(tokens)
    if code not in st["table"]:
        raise DistillnasError(f"arch {code!r} is not in the table {ev.table!r}")
    arch = space.to_string(tokens)
    if arch not in st["costs"]:
        st["costs"][arch] = measure_costs(space, tokens, arch, (3, 32, 32), 100, st["latency"])[1]
    return TrialResult(arch, list(tokens), "ok", st["table"][code], **st["costs"][arch])


EVALUATORS: Registry[Callable[[EvalContext, tuple[int, ...], int], TrialResult]] = Registry("evaluator")
EVALUATORS.register("proxy")(_proxy)
EVALUATORS.register("table")(_table)


def evaluate_trial(ctx: EvalContext, tokens: tuple[int, ...], seed: int) -> TrialResult:
    """Evaluate one arch; any failure becomes a failed TrialResult with its reason, never an exception."""
    start = time.perf_counter()
    if ctx.threads:
        torch.set_num_threads(ctx.threads)
    try:
        result = EVALUATORS.get(ctx.evaluator.get("name", "proxy"))(ctx, tuple(tokens), seed)
    except SetupError:  # about the setup, not the arch: stop the search, store nothing
        raise
    except Exception as e:  # a broken candidate must not stop the search
        arch = ""
        try:
            arch = _state(ctx)["space"].to_string(tuple(tokens))
        except Exception:
            pass
        detail = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        result = TrialResult(arch, list(tokens), "failed", error=f"{type(e).__name__}: {detail}",
                             extra={"traceback": traceback.format_exc(limit=4)[-1500:]})
    result.wall_s = time.perf_counter() - start
    return result


__all__ = ["EVALUATORS", "EvalContext", "TrialResult", "evaluate_trial", "measure_costs", "prime_state", "read_table"]
