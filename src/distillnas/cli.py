"""Command-line interface: a thin layer over library calls.

Every user error is a `DistillnasError`: printed as one line on stderr, exit status 2.
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from .config import DataConfig, LossConfig, OptimConfig, TrainConfig, validate
from .errors import DistillnasError

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


def _mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.2f} ± {100 * sd:.2f}"


DatasetOpt = typer.Option("mnist5k", "--dataset", "-d", help="mnist5k | digits | synthetic | cifar10 | cifar100 | imagefolder")
RootOpt = typer.Option(None, "--data-root", help="Directory of an on-disk dataset (cifar*, imagefolder).")
DeviceOpt = typer.Option("auto", help="auto | cpu | cuda | cuda:N")


@app.command()
def train(
    arch: str = typer.Option(..., "--arch", "-a", help="Student arch, e.g. resnet20, resnet-1-3-5, wrn-16-4, mobilenetv2-w0.5."),
    teacher: Optional[List[str]] = typer.Option(None, "--teacher", "-t", help="Teacher spec; repeat, comma-separate or give a directory for an ensemble."),
    loss: str = typer.Option("kd", help="ce | kd | od | feature_mse, or a sum like kd+0.5*feature_mse."),
    epochs: float = typer.Option(30, help="Training epochs (fractions allowed)."),
    seeds: str = typer.Option("0", help="Seeds, e.g. 0,1,2 or 0-4: one training each; the table shows mean ± std."),
    dataset: str = DatasetOpt,
    data_root: Optional[str] = RootOpt,
    out_dir: Path = typer.Option(Path("runs/train"), "--out", "-o", help="Where checkpoints, results.json and the teacher cache go."),
    temperature: Optional[float] = typer.Option(None, help="Softmax temperature T (default: 4 for kd, 3 for od)."),
    kd_weight: Optional[float] = typer.Option(None, help="w in (1-w)·CE + w·T²·KL (default: 0.9 for kd, 1 for od)."),
    batch_size: int = typer.Option(128, help="Training batch size."),
    lr: float = typer.Option(0.1, help="Peak learning rate (SGD, Nesterov momentum 0.9)."),
    weight_decay: float = typer.Option(5e-4, help="Weight decay."),
    schedule: str = typer.Option("cosine", help="cosine | step (÷10 at 50% and 75%) | constant"),
    augment: str = typer.Option("views", help="views (K cached augmented views) | random (teacher online) | none"),
    teacher_views: int = typer.Option(4, help="K augmented views per example whose teacher outputs are cached."),
    split: str = typer.Option("train", help="Train on 'train' (mini-train + mini-val) or 'minitrain'."),
    device: str = DeviceOpt,
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Train one student with ce, kd or od over several seeds; print mean ± std and save checkpoints."""
    from .teachers import TeacherCache, load_teacher
    from .train import prepare_data, train_student

    is_od = loss.strip() == "od"
    cfg = validate(TrainConfig, {
        "optim": OptimConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                             schedule=schedule).model_dump(),
        "loss": LossConfig(name=loss, temperature=temperature or (3.0 if is_od else 4.0),
                           kd_weight=kd_weight if kd_weight is not None else (1.0 if is_od else 0.9)).model_dump(),
        "augment": augment, "teacher_views": teacher_views, "device": device,
    })
    data_cfg = validate(DataConfig, {"name": dataset, "root": data_root})
    seed_list = parse_seeds(seeds)
    ds, splits = prepare_data(data_cfg)
    t = load_teacher(teacher, ds) if teacher else None
    cache = TeacherCache(out_dir / "teacher_cache")
    run_config = {"data": data_cfg.model_dump(), "train": cfg.model_dump(), "teacher": teacher or []}
    runs = [train_student(arch, cfg, ds, splits, teacher=t, cache=cache, seed=s, train_split=split,
                          eval_splits=("test",), out_dir=out_dir, run_config=run_config, progress=progress)
            for s in seed_list]
    table = Table(title=f"{dataset}: {runs[0].arch} trained with {loss} ({epochs:g} epochs)")
    for col in ("arch", "loss", "seeds", "test top-1 (%)", "params", "s / run", "status"):
        table.add_column(col)
    ok = [r for r in runs if r.status == "ok"]
    table.add_row(runs[0].arch, loss, str(len(runs)), _mean_std([r.metrics["test"] for r in ok]),
                  f"{runs[0].params:,}", f"{statistics.mean(r.wall_s for r in runs):.1f}",
                  "ok" if len(ok) == len(runs) else f"{len(runs) - len(ok)} diverged")
    out.print(table)
    for r in runs:
        if r.status != "ok":
            out.print(f"[red]seed {r.seed}: {r.status}: {r.error}")
    (out_dir / "results.json").write_text(json.dumps([r.as_dict() for r in runs], indent=2))
    out.print(f"checkpoints and results.json in {out_dir}")
    if not ok:
        raise typer.Exit(1)


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
    device: str = DeviceOpt,
    progress: bool = typer.Option(True),
) -> None:
    """Train N independently seeded networks (the KDAS ensemble teacher) and report the ensemble."""
    from .teachers import train_teachers

    data_cfg = validate(DataConfig, {"name": dataset, "root": data_root})
    cfg = validate(TrainConfig, {"optim": {"epochs": epochs, "batch_size": batch_size, "lr": lr},
                                 "loss": {"name": "ce"}, "augment": "random", "device": device})
    runs, report = train_teachers(arch, parse_seeds(seeds), data_cfg, cfg, out_dir, progress=progress)
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
    from .train import prepare_data

    ds, splits = prepare_data(validate(DataConfig, {"name": dataset, "root": data_root}))
    report = evaluate_teacher(load_teacher(teacher, ds), ds, split, splits.get(split))
    _print_report(f"teacher on {dataset} ({split})", report)


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


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, prog_name="distillnas")
    except DistillnasError as e:
        print(f"distillnas: error: {e}", file=sys.stderr)
        sys.exit(2)
