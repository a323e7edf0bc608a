"""Command-line interface: a thin layer over library calls.

Every user error is a `DistillnasError`: printed as one line on stderr, exit status 2.
"""
from __future__ import annotations

import json
import logging
import statistics
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from .config import DataConfig, TrainConfig, validate
from .errors import DistillnasError, SearchInterrupted
from .io import ensure_dir
from .runconfig import packaged_configs

app = typer.Typer(help="Find and train the student that distills best from your teacher.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
teacher_app = typer.Typer(help="Train teacher ensembles and inspect teachers.", no_args_is_help=True)
app.add_typer(teacher_app, name="teacher")
out = Console()


def parse_seeds(text: str) -> list[int]:
    """'0-4' -> [0, 1, 2, 3, 4]; '0,1,2' -> [0, 1, 2]."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            seeds.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    except ValueError:
        raise DistillnasError(f"bad seeds {text!r}; write e.g. 0,1,2 or 0-4") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise DistillnasError(f"bad seeds {text!r}: need distinct non-negative integers")
    return seeds


def parse_space(name: Optional[str], options: list[str]) -> Optional[dict]:
    """--space NAME --space-opt k=v ... -> a space config dict (checked by building the space)."""
    import yaml

    from .spaces import build_space

    if name is None:
        if options:
            raise DistillnasError("--space-opt needs --space NAME")
        return None
    cfg: dict = {"name": name}
    for opt in options:
        key, eq, value = opt.partition("=")
        if not eq:
            raise DistillnasError(f"bad --space-opt {opt!r}; write key=value, e.g. preset=cifar")
        cfg[key.strip()] = yaml.safe_load(value)
    try:
        return build_space(**cfg).config()
    except TypeError as e:
        raise DistillnasError(f"bad --space-opt for space {name!r}: {e}") from None


def _mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.2f} ± {100 * sd:.2f}"


DatasetOpt = typer.Option("mnist5k", "--dataset", "-d", help="mnist5k | digits | synthetic | cifar10 | cifar100 | imagefolder")
RootOpt = typer.Option(None, "--data-root", help="Directory of an on-disk dataset (cifar*, imagefolder).")
DeviceOpt = typer.Option("auto", help="auto | cpu | cuda | cuda:N")
ChannelsLastOpt = typer.Option("auto", "--channels-last", help="auto | on | off. Channels-last memory format; auto: "
                               "on for CPU. Never used for models with convolutions that hit the oneDNN hang "
                               "(see bench/onednn_channels_last_hang.py).")
err = Console(stderr=True)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def search(
    ctx: typer.Context,
    config: Optional[str] = typer.Option(None, "--config", "-c", help="A YAML file or a packaged config name "
                                         f"({', '.join(sorted(packaged_configs()))}). Default: akd_mnist5k."),
    run_dir: Optional[str] = typer.Option(None, "--run-dir", help="Run directory (default runs/<config name>). "
                                          "Re-running on the same directory resumes it."),
    executor: Optional[str] = typer.Option(None, help="local (default) | ray"),
    ray_address: Optional[str] = typer.Option(None, help="Join this Ray cluster instead of starting a local one."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Search for the students that distill best from the teacher, under a latency/MACs/params target.

    Any config value can be overridden as --section.key=value, e.g. --search.trials=20
    --reward.target=2.5 --strategy.name=evolution. With no arguments this runs the embedded
    default end to end (teacher ensemble included) and prints the best students.
    """
    from .runconfig import load_search_config
    from .search import print_best, run_search

    overrides = list(ctx.args)
    for flag, value in (("run_dir", run_dir), ("execution.executor", executor), ("execution.ray_address", ray_address)):
        if value is not None:
            overrides.append(f"--{flag}={value}")
    cfg = load_search_config(config, overrides)
    outcome = run_search(cfg, out, progress=progress)
    print_best(outcome, cfg, out)
    repeats = f", {outcome.reused} repeats of stored archs (free)" if outcome.reused else ""
    out.print(f"{outcome.trials} trials ({outcome.evaluated} evaluated now{repeats}) in {outcome.wall_s:.0f} s")
    if outcome.converged:
        out.print(f"the search ended before {cfg.search.trials} trials: the policy converged and proposes archs "
                  f"already evaluated ({outcome.reused} repeats; search.patience={cfg.search.patience}, "
                  f"search.max_repeats={cfg.search.max_repeats:g})", soft_wrap=True)
    if not outcome.best:
        raise typer.Exit(1)
    if outcome.readonly:
        out.print(f"run directory {outcome.run_dir} is read-only: results printed, report not rewritten")
        return
    from .analysis import build_report

    out.print(f"report: {build_report([outcome.run_dir])}", soft_wrap=True)


@app.command()
def report(
    runs: List[Path] = typer.Argument(..., help="Run directories; with two or more, the first two are also compared "
                                      "side by side (e.g. a KD-guided and a CE-guided search)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Output directory (default RUN/report)."),
) -> None:
    """Write one self-contained HTML report (plus PNGs and CSVs) for one or more runs."""
    from .analysis import build_report

    if out_dir is not None:
        ensure_dir(out_dir, "report directory (--out)")
    out.print(f"report: {build_report(runs, out_dir)}", soft_wrap=True)


@app.command()
def rank(
    archs: str = typer.Option(..., help="Students to rank: man-made names separated by commas (resnet8,resnet20), "
                              "or, with --space, arch strings separated by ';' (they may hold commas)."),
    teachers: List[str] = typer.Option(..., "--teachers", "-t", help="Two or more teacher specs (repeat the option; "
                                       "a directory is one ensemble teacher)."),
    dataset: str = typer.Option("mnist5k", "--dataset", "-d"),
    data_root: Optional[str] = typer.Option(None, "--data-root"),
    epochs: float = typer.Option(5, help="Proxy epochs per student and teacher."),
    seeds: str = typer.Option("0", help="Seeds averaged per cell, e.g. 0,1,2."),
    space: Optional[str] = typer.Option(None, help="Search space of the arch strings (mnasnet | resnet_depth | addon)."),
    temperature: float = typer.Option(1.0, help="KD temperature (AKD: 1)."),
    kd_weight: float = typer.Option(0.9, help="KD weight (AKD: 0.9)."),
    out_dir: Path = typer.Option(Path("runs/rank"), "--out", "-o"),
    channels_last: str = ChannelsLastOpt,
    progress: bool = typer.Option(True),
) -> None:
    """Rank students under each teacher by KD proxy accuracy (AKD Table 3), with Kendall tau."""
    from .rank import rank_students

    arch_list = [a.strip() for a in (archs.split(";") if space else archs.split(",")) if a.strip()]
    if not arch_list:
        raise DistillnasError(f"--archs {archs!r} names no student")
    cfg = validate(TrainConfig, {"optim": {"epochs": epochs}, "loss": {"name": "kd", "temperature": temperature,
                                                                       "kd_weight": kd_weight},
                                 "channels_last": channels_last})
    ensure_dir(out_dir, "output directory (--out)")
    result = rank_students(arch_list, list(teachers), validate(DataConfig, {"name": dataset, "root": data_root}), cfg,
                           parse_seeds(seeds), parse_space(space, []), str(out_dir / "teacher_cache"), progress)
    table = Table(title="mini-val top-1 (%) and rank per teacher; ce = trained without a teacher")
    table.add_column("student")
    for c in result.columns:
        table.add_column(c if len(c) < 24 else "..." + c[-21:])
    for i, arch in enumerate(result.archs):
        table.add_row(arch if len(arch) < 40 else arch[:37] + "...",
                      *[f"{100 * result.scores[c][i]:.2f} (#{result.ranks(c)[i]})" for c in result.columns])
    out.print(table)
    tau = Table(title="Kendall tau between rankings")
    tau.add_column("")
    for c in result.columns:
        tau.add_column(c if len(c) < 24 else "..." + c[-21:])
    for a in result.columns:
        tau.add_row(a if len(a) < 24 else "..." + a[-21:], *[f"{result.tau[a][b]:.3f}" for b in result.columns])
    out.print(tau)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "rank.json").write_text(json.dumps({"archs": result.archs, "scores": result.scores, "tau": result.tau},
                                                  indent=2))
    out.print(f"saved {out_dir / 'rank.json'}")


@app.command()
def train(
    arch: Optional[str] = typer.Option(None, "--arch", "-a", help="Student arch, e.g. resnet20, resnet-1-3-5, wrn-16-4, mobilenetv2-w0.5."),
    from_run: Optional[Path] = typer.Option(None, "--from-run", help="Retrain the best archs of this search run "
                                            "(its data, teacher and final-training config)."),
    top: int = typer.Option(1, help="With --from-run: how many of the best archs to retrain."),
    space: Optional[str] = typer.Option(None, help="The search space of --arch when it is a searched arch string: "
                                        "mnasnet | resnet_depth | addon."),
    space_opt: Optional[List[str]] = typer.Option(None, "--space-opt", help="A setting of --space as key=value, "
                                                  "repeatable: preset=tiny, backbone=resnet32, layers=[2,2,2]."),
    teacher: Optional[List[str]] = typer.Option(None, "--teacher", "-t", help="Teacher spec; repeat, comma-separate or give a directory for an ensemble."),
    loss: Optional[str] = typer.Option(None, help="ce | kd | od | feature_mse, or a sum like kd+0.5*feature_mse "
                                       "[default: kd; with --from-run: the run's final.loss]."),
    epochs: Optional[float] = typer.Option(None, help="Training epochs, fractions allowed [default: 30; with "
                                           "--from-run: the run's final.optim.epochs]."),
    seeds: Optional[str] = typer.Option(None, help="Seeds, e.g. 0,1,2 or 0-4: one training each; the table shows "
                                        "mean ± std [default: 0; with --from-run: the run's final.seeds]."),
    dataset: str = DatasetOpt,
    data_root: Optional[str] = RootOpt,
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Where checkpoints, results.json and the teacher "
                                           "cache go [default: runs/train; with --from-run: RUN/students]."),
    temperature: Optional[float] = typer.Option(None, help="Softmax temperature T > 0 (default: 4 for kd, 3 for od)."),
    kd_weight: Optional[float] = typer.Option(None, help="w in (1-w)·CE + w·T²·KL, 0..1 (default: 0.9 for kd, 1 for od)."),
    batch_size: int = typer.Option(128, help="Training batch size."),
    lr: float = typer.Option(0.1, help="Peak learning rate (SGD, Nesterov momentum 0.9)."),
    weight_decay: float = typer.Option(5e-4, help="Weight decay."),
    schedule: str = typer.Option("cosine", help="cosine | step (÷10 at 50% and 75%) | constant"),
    augment: str = typer.Option("views", help="views (K cached augmented views) | random (teacher online) | none"),
    teacher_views: int = typer.Option(4, help="K augmented views per example whose teacher outputs are cached."),
    split: str = typer.Option("train", help="Train on 'train' (mini-train + mini-val) or 'minitrain'."),
    channels_last: str = ChannelsLastOpt,
    device: str = DeviceOpt,
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Train one student with ce, kd or od over several seeds; print mean ± std and save checkpoints."""
    from .data import prepare_data
    from .teachers import TeacherCache, load_teacher
    from .train import build_student, check_teacher_for_loss, resolve_device, train_student

    if from_run is not None:
        from .search import retrain_from_run

        runs = retrain_from_run(from_run, top, epochs=epochs, seeds=parse_seeds(seeds) if seeds else None,
                                loss=loss, device=device, progress=progress, out_dir=out_dir,
                                channels_last=channels_last, warn=lambda msg: err.print(f"warning: {msg}", soft_wrap=True))
        _print_runs(runs, f"retrained from {from_run}")
        if not any(r.status == "ok" for r in runs):
            raise typer.Exit(1)
        return
    if arch is None:
        raise DistillnasError("give --arch ARCH (a student to train) or --from-run RUN_DIR (retrain a search's best)")
    if split not in ("train", "minitrain"):
        raise DistillnasError(f"--split {split!r}: train on 'train' or 'minitrain'")
    loss = loss or "kd"
    is_od = loss.strip() == "od"
    cfg = validate(TrainConfig, {
        "optim": {"epochs": 30.0 if epochs is None else epochs, "batch_size": batch_size, "lr": lr,
                  "weight_decay": weight_decay, "schedule": schedule},
        "loss": {"name": loss, "temperature": temperature if temperature is not None else (3.0 if is_od else 4.0),
                 "kd_weight": kd_weight if kd_weight is not None else (1.0 if is_od else 0.9)},
        "augment": augment, "teacher_views": teacher_views, "device": device, "channels_last": channels_last,
    })
    data_cfg = validate(DataConfig, {"name": dataset, "root": data_root})
    seed_list = parse_seeds(seeds or "0")
    space_cfg = parse_space(space, space_opt or [])
    resolve_device(cfg.device)
    ds, splits = prepare_data(data_cfg)
    build_student(arch, space_cfg, ds)  # a bad arch string is found before anything is written
    t = load_teacher(teacher, ds) if teacher else None
    check_teacher_for_loss(loss, t)
    out_dir = ensure_dir(out_dir or Path("runs/train"), "output directory (--out)")
    cache = TeacherCache(out_dir / "teacher_cache")
    run_config = {"data": data_cfg.model_dump(), "train": cfg.model_dump(), "teacher": teacher or []}
    runs = [train_student(arch, cfg, ds, splits, teacher=t, cache=cache, seed=s, train_split=split,
                          eval_splits=("test",), out_dir=out_dir, run_config=run_config, space=space_cfg,
                          progress=progress)
            for s in seed_list]
    _print_runs(runs, f"{dataset}: trained with {loss} ({cfg.optim.epochs:g} epochs)")
    (out_dir / "results.json").write_text(json.dumps([r.as_dict() for r in runs], indent=2))
    out.print(f"checkpoints and results.json in {out_dir}")
    if not any(r.status == "ok" for r in runs):
        raise typer.Exit(1)


def _print_runs(runs: list, title: str) -> None:
    """One row per (arch, loss): test top-1 mean ± std over seeds."""
    table = Table(title=title)
    for col in ("#", "arch", "loss", "seeds", "test top-1 (%)", "params", "s / run", "status"):
        table.add_column(col)
    groups: dict[tuple[str, str], list] = {}
    for r in runs:
        groups.setdefault((r.arch, r.loss), []).append(r)
    for i, ((arch, loss), rs) in enumerate(groups.items(), 1):
        ok = [r for r in rs if r.status == "ok"]
        short = arch if len(arch) <= 28 else arch[:25] + "..."
        table.add_row(str(i), short, loss, str(len(rs)), _mean_std([r.metrics["test"] for r in ok]),
                      f"{rs[0].params:,}", f"{statistics.mean(r.wall_s for r in rs):.1f}",
                      "ok" if len(ok) == len(rs) else f"{len(rs) - len(ok)} diverged")
    out.print(table)
    for i, (arch, _) in enumerate(groups, 1):
        if len(arch) > 28:
            out.print(f"#{i} {arch}", soft_wrap=True)
    for r in runs:
        if r.status != "ok":
            out.print(f"[red]{r.arch} seed {r.seed}: {r.status}: {r.error}", soft_wrap=True)


@teacher_app.command("train")
def teacher_train(
    arch: str = typer.Option("resnet20", "--arch", "-a", help="Arch of every member."),
    seeds: str = typer.Option("0-4", help="One member per seed, e.g. 0-4."),
    dataset: str = DatasetOpt,
    data_root: Optional[str] = RootOpt,
    out_dir: Path = typer.Option(..., "--out", "-o", help="Directory for the members' checkpoints (usable as --teacher)."),
    epochs: float = typer.Option(30, help="Training epochs per member."),
    batch_size: int = typer.Option(128),
    lr: float = typer.Option(0.1),
    channels_last: str = ChannelsLastOpt,
    device: str = DeviceOpt,
    progress: bool = typer.Option(True),
) -> None:
    """Train N independently seeded networks (the KDAS ensemble teacher) and report the ensemble."""
    from .teachers import train_teachers

    data_cfg = validate(DataConfig, {"name": dataset, "root": data_root})
    cfg = validate(TrainConfig, {"optim": {"epochs": epochs, "batch_size": batch_size, "lr": lr},
                                 "loss": {"name": "ce"}, "augment": "random", "device": device,
                                 "channels_last": channels_last})
    seed_list = parse_seeds(seeds)
    ensure_dir(out_dir, "output directory (--out)")
    runs, report = train_teachers(arch, seed_list, data_cfg, cfg, out_dir, progress=progress)
    _print_report(f"{arch} x{len(runs)} on {dataset} (test)", report)
    out.print(f"members in {out_dir}: use --teacher {out_dir}")


@teacher_app.command("eval")
def teacher_eval(
    teacher: List[str] = typer.Option(..., "--teacher", "-t", help="Teacher spec(s); several form an ensemble."),
    dataset: str = DatasetOpt,
    data_root: Optional[str] = RootOpt,
    split: str = typer.Option("test", help="train | minitrain | minival | test"),
) -> None:
    """Accuracy of each member, of the average logits and of the oracle (any member right)."""
    from .teachers import evaluate_teacher, load_teacher
    from .data import prepare_data

    ds, splits = prepare_data(validate(DataConfig, {"name": dataset, "root": data_root}))
    report = evaluate_teacher(load_teacher(teacher, ds), ds, split, splits.get(split))
    _print_report(f"teacher on {dataset} ({split})", report)


@teacher_app.command("compare")
def teacher_compare(
    specs: List[str] = typer.Argument(..., help="Teachers to compare; a directory or comma list is one ensemble."),
    dataset: str = DatasetOpt,
    data_root: Optional[str] = RootOpt,
    split: str = typer.Option("test", help="train | minitrain | minival | test"),
    out_dir: Path = typer.Option(Path("runs/teacher_compare"), "--out", "-o", help="Where PNGs and CSVs go."),
) -> None:
    """KL, L2 and top-1 agreement between teachers and the ground truth (AKD Fig. 2); ensembles'
    average vs oracle accuracy and examples by members right (KDAS Table 5)."""
    import csv

    from .analysis.plots import heatmap
    from .analysis.teachers import compare_teachers
    from .teachers import TeacherCache, load_teacher
    from .data import prepare_data

    ds, splits = prepare_data(validate(DataConfig, {"name": dataset, "root": data_root}))
    teachers = [(Path(s).name or s, load_teacher(s, ds)) for s in specs]
    ensure_dir(out_dir, "output directory (--out)")
    cmp = compare_teachers(teachers, ds, split, splits.get(split), TeacherCache(out_dir / "teacher_cache"))
    out_dir.mkdir(parents=True, exist_ok=True)
    acc = Table(title=f"teachers on {dataset} ({split})")
    acc.add_column("teacher")
    acc.add_column("top-1 (%)", justify="right")
    for n, a in zip(cmp.names, cmp.accuracy):
        acc.add_row(n, f"{100 * a:.2f}")
    out.print(acc)
    for key, title in (("kl", "mean KL(row || column)"), ("l2", "mean L2 distance"), ("agreement", "top-1 agreement")):
        t = Table(title=title)
        t.add_column("")
        for n in cmp.names:
            t.add_column(n)
        for n, row in zip(cmp.names, cmp.matrices[key]):
            t.add_row(n, *[f"{v:.3f}" for v in row])
        out.print(t)
        heatmap(cmp.matrices[key], cmp.names, title, out_dir / f"{key}.png")
        with open(out_dir / f"{key}.csv", "w", newline="") as f:
            csv.writer(f).writerows([[""] + cmp.names] + [[n, *row] for n, row in zip(cmp.names, cmp.matrices[key])])
    for name, rep in cmp.ensembles.items():
        shares = ", ".join(f"{k} right: {100 * v:.1f}%" for k, v in enumerate(rep["right_counts"]))
        out.print(f"ensemble {name}: average {100 * rep['average']:.2f}%, oracle {100 * rep['oracle']:.2f}% — {shares}")
    (out_dir / "ensembles.json").write_text(json.dumps(cmp.ensembles, indent=2))
    out.print(f"PNGs and CSVs in {out_dir}")


def _print_report(title: str, report) -> None:  # noqa: ANN001
    table = Table(title=title)
    table.add_column("model")
    table.add_column("top-1 (%)", justify="right")
    for i, acc in enumerate(report.members):
        table.add_row(f"member {i}", f"{100 * acc:.2f}")
    if len(report.members) > 1:
        table.add_row("average logits", f"{100 * report.average:.2f}")
        table.add_row("oracle", f"{100 * report.oracle:.2f}")
    out.print(table)
    if len(report.members) > 1:
        shares = ", ".join(f"{k} right: {100 * s:.1f}%" for k, s in enumerate(report.right_counts))
        out.print(f"examples by members right — {shares}")


class _StderrHandler(logging.Handler):
    """Library warnings as 'distillnas: warning: ...' lines on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"distillnas: {record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)


def _setup_logging() -> None:
    log = logging.getLogger("distillnas")
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        log.addHandler(_StderrHandler())
        log.setLevel(logging.INFO)
        log.propagate = False


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors are one line on stderr and exit 2; Ctrl-C exits 130."""
    _setup_logging()
    try:
        app(args=argv, prog_name="distillnas")
    except DistillnasError as e:
        print(f"distillnas: error: {e}", file=sys.stderr)
        sys.exit(2)
    except SearchInterrupted as e:
        print(f"distillnas: {e}", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("distillnas: interrupted", file=sys.stderr)
        sys.exit(130)
    except OSError as e:  # a file problem the checks above did not foresee: still one line
        name = f": {e.filename!r}" if getattr(e, "filename", None) else ""
        print(f"distillnas: error: {e.strerror or type(e).__name__}{name}", file=sys.stderr)
        sys.exit(2)
