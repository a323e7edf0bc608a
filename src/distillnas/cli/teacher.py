"""`distillnas teacher train | eval | compare` and `distillnas rank`: teachers and how they rank students."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import DistillnasError
from ..io import atomic_write_text, check_dir, ensure_dir
from .app import app, teacher_app
from .display import out, print_rank, print_report, print_teacher_comparison
from .options import (OVERRIDES, ChannelsLastOpt, DatasetOpt, DeviceOpt, PrecisionOpt, ProgressOpt, RootOpt,
                      parse_seeds, split_section)


@teacher_app.command("train", context_settings=OVERRIDES)
def teacher_train(
    ctx: typer.Context,
    arch: str = typer.Option("resnet20", "--arch", "-a", help="Arch of every member."),
    seeds: str = typer.Option("0-4", help="One member per seed, e.g. 0-4."),
    dataset: str = DatasetOpt,
    data_root: Optional[str] = RootOpt,
    out_dir: Path = typer.Option(..., "--out", "-o", help="Directory for the members' checkpoints (usable as --teacher)."),
    epochs: float = typer.Option(30, min=0, max=10_000, help="Training epochs per member; other settings as --optim.key=value "
                                 "(--optim.lr=0.1, --optim.batch_size=128)."),
    route: int = typer.Option(0, min=0, max=100, help="Also keep N anchors of each member's training, at epochs "
                              "E/N, 2E/N, .., E, in OUT/route/seed<S>/ (the route RCO distils along: "
                              "train --scheme rco --route OUT/route/seed<S>)."),
    save_every: float = typer.Option(5, min=0, max=10_000, help="Keep each member's training state every ~E epochs "
                                     "(in OUT/.resume/), so a killed run started again continues from it; 0: never. "
                                     "Members OUT already holds, trained the same way, are kept, not trained again."),
    recipe: Optional[str] = typer.Option(None, help="A packaged recipe (`distillnas list recipes`, e.g. "
                                         "fmnist_resnet20) or a YAML file of one: arch, seeds, epochs, save_every, "
                                         "data, train. Flags given here win over it."),
    channels_last: str = ChannelsLastOpt,
    precision: str = PrecisionOpt,
    device: str = DeviceOpt,
    progress: bool = ProgressOpt,
) -> None:
    """Train N independently seeded networks (the KDAS ensemble teacher) with CE and report the ensemble.
    Resumable: run the same command again after a crash."""
    from ..config import DataConfig, TrainConfig, validate
    from ..runconfig import apply_overrides
    from ..training import train_teachers

    r = _recipe(recipe)
    given = lambda name: r is None or _on_command_line(ctx, name)  # noqa: E731
    arch = arch if given("arch") else r.arch
    seed_list = parse_seeds(seeds) if given("seeds") else list(r.seeds)
    epochs = epochs if given("epochs") else r.epochs
    save_every = save_every if given("save_every") else r.save_every
    base_data = {} if r is None else dict(r.data)
    if given("dataset") or "name" not in base_data:
        base_data["name"] = dataset
    if data_root is not None:
        base_data["root"] = data_root
    dataset = base_data["name"]
    train_base = {} if r is None else dict(r.train)
    optim = {**train_base.pop("optim", {}), "epochs": epochs}
    settings = apply_overrides({"augment": "random", **train_base, "optim": optim, "loss": {"name": "ce"},
                                "device": device, "channels_last": channels_last, "precision": precision},
                               list(ctx.args))
    data_cfg = validate(DataConfig, {**base_data, **(split_section(settings, "data") or {})},
                        "data.")  # e.g. --data.classes=[0,1,2] for a retrieval teacher
    cfg = validate(TrainConfig, settings)
    check_dir(out_dir, "output directory (--out)")
    runs, report = train_teachers(arch, seed_list, data_cfg, cfg, out_dir, progress=progress, route=route,
                                  save_every=save_every)
    for run in runs:
        out.print(f"member seed {run.seed}: " + ("kept (already trained this way)" if run.kept else
                                                 f"{run.status} in {run.wall_s:.0f} s"))
    print_report(f"{arch} x{len(runs)} on {dataset} (test)", report)
    out.print(f"members in {out_dir}: use --teacher {out_dir}")


def _recipe(name: Optional[str]):  # noqa: ANN202 - a TeacherRecipe, imported where used
    """The recipe named (packaged) or at a path, validated; None without --recipe."""
    if name is None:
        return None
    from ..catalog import packaged_recipes
    from ..config import validate
    from ..io import read_yaml_file
    from ..recipe import TeacherRecipe

    packaged = packaged_recipes()
    if Path(name).is_file():
        path = Path(name)
    elif name in packaged:
        path = packaged[name]
    else:
        raise DistillnasError(f"--recipe {name!r} is neither a file nor a packaged recipe "
                              f"({', '.join(sorted(packaged))})")
    return validate(TeacherRecipe, read_yaml_file(path, "recipe"), "recipe.")


def _on_command_line(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


@teacher_app.command("eval")
def teacher_eval(
    teacher: List[str] = typer.Option(..., "--teacher", "-t", help="Teacher spec(s); several form an ensemble."),
    dataset: str = DatasetOpt,
    data_root: Optional[str] = RootOpt,
    split: str = typer.Option("test", help="train | minitrain | minival | test"),
) -> None:
    """Accuracy of each member, of the average logits and of the oracle (any member right)."""
    from ..config import DataConfig, validate
    from ..data import prepare_data
    from ..teachers import evaluate_teacher, load_teacher

    ds, splits = prepare_data(validate(DataConfig, {"name": dataset, "root": data_root}))
    report = evaluate_teacher(load_teacher(teacher, ds), ds, split, splits.get(split))
    print_report(f"teacher on {dataset} ({split})", report)


@teacher_app.command("compare")
def teacher_compare(
    specs: List[str] = typer.Argument(..., metavar="SPECS", help="Teachers to compare; a directory or comma list is one ensemble."),
    dataset: str = DatasetOpt,
    data_root: Optional[str] = RootOpt,
    split: str = typer.Option("test", help="train | minitrain | minival | test"),
    out_dir: Path = typer.Option(Path("runs/teacher_compare"), "--out", "-o", help="Where PNGs and CSVs go."),
) -> None:
    """KL, L2 and top-1 agreement between teachers and the ground truth (AKD Fig. 2); ensembles'
    average vs oracle accuracy and examples by members right (KDAS Table 5)."""
    from ..analysis.teachers import compare_teachers
    from ..config import DataConfig, validate
    from ..data import prepare_data
    from ..teachers import TeacherCache, load_teacher

    ds, splits = prepare_data(validate(DataConfig, {"name": dataset, "root": data_root}))
    check_dir(out_dir, "output directory (--out)")
    teachers = [(Path(s).name or s, load_teacher(s, ds)) for s in specs]
    ensure_dir(out_dir, "output directory (--out)")
    cmp = compare_teachers(teachers, ds, split, splits.get(split), TeacherCache(out_dir / "teacher_cache"))
    print_teacher_comparison(cmp, dataset, split, out_dir)
    atomic_write_text(out_dir / "ensembles.json", json.dumps(cmp.ensembles, indent=2))
    out.print(f"PNGs and CSVs in {out_dir}")


@app.command(context_settings=OVERRIDES)
def rank(
    ctx: typer.Context,
    archs: str = typer.Option(..., help="Students to rank: man-made names separated by commas (resnet8,resnet20), "
                              "or, with --space, arch strings separated by ';' (they may hold commas)."),
    teachers: List[str] = typer.Option(..., "--teachers", "-t", help="Two or more teacher specs (repeat the option; "
                                       "a directory is one ensemble teacher)."),
    dataset: str = DatasetOpt,
    data_root: Optional[str] = RootOpt,
    epochs: float = typer.Option(5, min=0, max=10_000, help="Proxy epochs per student and teacher."),
    seeds: str = typer.Option("0", help="Seeds averaged per cell, e.g. 0,1,2."),
    space: Optional[str] = typer.Option(None, help="Search space of the arch strings (mnasnet | resnet_depth | addon)."),
    out_dir: Path = typer.Option(Path("runs/rank"), "--out", "-o"),
    channels_last: str = ChannelsLastOpt,
    precision: str = PrecisionOpt,
    progress: bool = ProgressOpt,
) -> None:
    """Rank students under each teacher by KD proxy accuracy (AKD Table 3), with Kendall tau.

    KD settings: --loss.temperature=1 --loss.kd_weight=0.9 (AKD's, the defaults).
    """
    from ..config import DataConfig, TrainConfig, validate
    from ..rank import rank_students
    from ..runconfig import apply_overrides
    from ..spaces import space_config

    arch_list = [a.strip() for a in (archs.split(";") if space else archs.split(",")) if a.strip()]
    if not arch_list:
        raise DistillnasError(f"--archs {archs!r} names no student")
    settings = apply_overrides({"optim": {"epochs": epochs}, "loss": {"name": "kd", "temperature": 1.0,
                                                                      "kd_weight": 0.9},
                                "channels_last": channels_last, "precision": precision}, list(ctx.args))
    space_over = settings.pop("space", None)
    cfg = validate(TrainConfig, settings)
    check_dir(out_dir, "output directory (--out)")
    result = rank_students(arch_list, list(teachers), validate(DataConfig, {"name": dataset, "root": data_root}), cfg,
                           parse_seeds(seeds), space_config(space, space_over), str(out_dir / "teacher_cache"), progress)
    print_rank(result)
    atomic_write_text(ensure_dir(out_dir, "output directory (--out)") / "rank.json",
                      json.dumps({"archs": result.archs, "scores": result.scores, "tau": result.tau},
                                                  indent=2))
    out.print(f"saved {out_dir / 'rank.json'}")
