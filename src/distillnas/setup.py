"""What a search checks and prepares before its loop: the config's names and demands, the data
and teacher against each other, and the teacher ensemble trained into the run when none is given."""
from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console

from .config import SearchConfig
from .recipe import LossConfig, OptimConfig, TrainConfig
from .benchmarks import read_benchmark
from .cost import MEASURERS, count_macs, count_params
from .data import prepare_data
from .distill import build_loss, parse_loss_spec
from .errors import DistillnasError
from .evaluators import EVALUATORS
from .execution import EXECUTORS
from .models import build_model, canonical_arch
from .rundir import RunDir
from .spaces import SearchSpace, space_from_config
from .strategies import build_strategy
from .teachers import Teacher, TeacherSpec
from .training import check_teacher_for_loss, record_ensemble, train_teachers


def check_config(cfg: SearchConfig) -> SearchSpace:
    """Bad values found before any work: names, sizes, each component's own demands; the space."""
    space = space_from_config(cfg.space)
    build_strategy(cfg.strategy, space.sizes, space.kinds, cfg.reward.target, space.sources, space.ordered)  # built to check it; T comes later
    if cfg.reward.reference is not None:
        try:
            canonical_arch(cfg.reward.reference)
        except DistillnasError as e:
            raise DistillnasError(f"reward.reference={cfg.reward.reference!r}: {e}") from None
    executor = EXECUTORS.get(cfg.execution.executor)
    executor.check(cfg.execution)
    evaluator = EVALUATORS.get(cfg.evaluator.name)
    if evaluator.local_only and not executor.in_process:
        raise DistillnasError(f"the {cfg.evaluator.name} evaluator keeps state across trials inside one process "
                              "(weight sharing): use execution.executor=local")
    evaluator.check(cfg, space)
    return space


@dataclass
class Setup:
    """What check_setup loaded: handed to this process's evaluator so nothing is loaded twice."""

    data: tuple | None = None  # (dataset, splits)
    teacher: Teacher | None = None  # the loaded teacher, when one is given and the loss needs it
    spec: TeacherSpec | None = None  # where it came from, normalised once (members expanded)


def check_setup(cfg: SearchConfig) -> Setup:
    """Load and check the dataset and the teacher before anything is written.

    Everything that is not about a candidate architecture is found here: a missing data
    root, an unreadable or refused teacher, a teacher with other classes, channels or rows
    than the data, non-finite teacher outputs, oracle KD without an ensemble. An error is a
    `DistillnasError` and the run directory is left as it was (or not created).
    """
    evaluator = EVALUATORS.get(cfg.evaluator.name)
    if not evaluator.needs_data:
        return Setup()
    ds, splits = prepare_data(cfg.data)
    loss, key = cfg.evaluator.loss_spec()
    teacher, given = None, None
    if build_loss(loss).needs_teacher:
        if cfg.teacher.spec:
            given = TeacherSpec.of(cfg.teacher.spec)
            teacher = given.load(ds)
            check_teacher_for_loss(loss, teacher, where=key)
            evaluator.check_teacher(cfg, teacher)
        else:
            build_model(cfg.teacher.arch, ds.num_classes, ds.in_channels, ds.input_size)
            if "od" in {n for _, n in parse_loss_spec(loss)} and len(cfg.teacher.seeds) < 2:
                raise DistillnasError(f"{key}='od' (oracle KD) needs an ensemble: give teacher.seeds two or more "
                                      f"seeds (got {cfg.teacher.seeds}), or set {key}=kd")
    return Setup((ds, splits), teacher, given)


def resolve_reference(cfg: SearchConfig, run: RunDir, setup: Setup) -> SearchConfig:
    """The config with the reward's reference model measured (a relative target made absolute on
    this host), or as it is. A resumed run keeps the cost it recorded, so its rewards stay
    comparable across sittings even on another machine."""
    r = cfg.reward
    if r.reference is None or r.reference_cost is not None:
        return cfg
    saved = (run.saved_config() or {}).get("reward", {}) if run.config.is_file() else {}
    cost = saved.get("reference_cost") if (saved.get("reference"), saved.get("metric")) == (r.reference, r.metric) \
        else None
    if cost is None:
        cost = measure_reference(cfg, setup)
    return cfg.model_copy(update={"reward": r.model_copy(update={"reference_cost": float(cost)})})


def measure_reference(cfg: SearchConfig, setup: Setup) -> float:
    """The reference model's cost, measured exactly as candidates are (same measurer, input shape)."""
    if setup.data is not None:
        ds = setup.data[0]
        (c, h, w), classes = (ds.in_channels, ds.input_size, ds.input_size), ds.num_classes
    else:  # an evaluator without data (a table): the shape its archs were built for
        table = read_benchmark(cfg.evaluator.table)
        (c, h, w), classes = table.input_shape, table.num_classes
    model = build_model(cfg.reward.reference, classes, c, h)
    shape = (1, c, h, w)
    if cfg.reward.metric == "params":
        return float(count_params(model))
    if cfg.reward.metric == "macs":
        return float(count_macs(model, shape))
    if cfg.cost.latency == "none":
        raise DistillnasError("reward.reference with metric latency_ms needs a latency measurer (cost.latency=cpu), "
                              "not cost.latency=none; or set reward.metric=macs (or params), or reward.reference=null")
    measure = MEASURERS.build(cfg.cost.latency, warmup=cfg.cost.warmup, repeats=cfg.cost.repeats)
    measure(model, shape)  # discarded: the process's first forward passes pay one-off costs (measured 2x slower)
    return measure(model, shape).median_ms


def prepare_teacher(cfg: SearchConfig, run: RunDir, console: Console | None,
                    given: TeacherSpec | None = None) -> TeacherSpec | None:
    """The evaluator's teacher (None when its loss needs none): `given` (what check_setup
    normalised) or the config's spec, or the configured ensemble, trained into the run's
    teacher/ when it is not there yet."""
    if not build_loss(cfg.evaluator.loss_spec()[0]).needs_teacher:
        return None
    if cfg.teacher.spec:
        return given or TeacherSpec.of(cfg.teacher.spec)
    missing = [s for s in cfg.teacher.seeds if not run.member(cfg.teacher.arch, s).is_file()]
    if missing:
        if console:
            console.print(f"no teacher given: training {len(missing)} x {cfg.teacher.arch} on {cfg.data.name} "
                          f"({cfg.teacher.epochs:g} epochs each) into {run.teacher_dir}")
        tcfg = TrainConfig(optim=OptimConfig(epochs=cfg.teacher.epochs), loss=LossConfig(name="ce"), augment="random",
                           channels_last=cfg.execution.channels_last, precision=cfg.execution.precision,
                           compile=cfg.execution.compile)
        for seed in missing:
            train_teachers(cfg.teacher.arch, [seed], cfg.data, tcfg, run.teacher_dir, progress=console is not None)
    members = run.teacher_members(cfg)
    if missing:  # the whole ensemble's record, once every member exists
        ds, splits = prepare_data(cfg.data)
        report = record_ensemble(cfg.teacher.arch, list(cfg.teacher.seeds), members, ds, splits.test, run.teacher_dir)
        if console:
            console.print(f"teacher {cfg.teacher.arch} x{len(members)} on test: members "
                          f"{', '.join(f'{100 * a:.2f}' for a in report.members)}; average {100 * report.average:.2f}, "
                          f"oracle {100 * report.oracle:.2f}", soft_wrap=True)
    return TeacherSpec(tuple(members))
