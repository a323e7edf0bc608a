"""`distillnas train`: one student over several seeds, or a search's best (--from-run)."""
from __future__ import annotations

import logging
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

import typer
from rich.table import Table

from ..errors import DistillnasError
from .app import app
from .display import err, out, print_runs
from .options import (OVERRIDES, ChannelsLastOpt, DatasetOpt, DeviceOpt, PrecisionOpt, ProgressOpt, RootOpt,
                      parse_seeds, split_section)

if TYPE_CHECKING:
    from ..config import TrainConfig

log = logging.getLogger("distillnas")


def train_settings(loss: str, epochs: float | None, device: str, channels_last: str, args: list[str],
                   precision: str = "auto") -> tuple[TrainConfig, dict[str, Any], dict[str, Any] | None]:
    """(training config, data overrides, space overrides) from the flags and `--section.key=value`
    arguments: TrainConfig's own keys (--optim.lr=0.05, --loss.temperature=2, --augment=none),
    plus --data.* and --space.* settings."""
    from ..config import TrainConfig, validate
    from ..runconfig import apply_overrides

    is_od = loss.strip() == "od"
    base = {"optim": {"epochs": 30.0 if epochs is None else epochs},
            "loss": {"name": loss, "temperature": 3.0 if is_od else 4.0, "kd_weight": 1.0 if is_od else 0.9},
            "device": device, "channels_last": channels_last, "precision": precision}
    data = apply_overrides(base, args)
    data_cfg, space_cfg = split_section(data, "data") or {}, split_section(data, "space")
    return validate(TrainConfig, data), data_cfg, space_cfg


@app.command(context_settings=OVERRIDES)
def train(
    ctx: typer.Context,
    arch: Optional[str] = typer.Option(None, "--arch", "-a", help="Student arch, e.g. resnet20, resnet-1-3-5, "
                                       "wrn-16-4, mobilenetv2-w0.5, or a searched arch string with --space."),
    from_run: Optional[Path] = typer.Option(None, "--from-run", help="Retrain the best archs of this search run "
                                            "(its data, teacher and final-training config)."),
    top: int = typer.Option(1, min=1, max=1000, help="With --from-run: how many of the best archs to retrain."),
    space: Optional[str] = typer.Option(None, help="The search space of --arch when it is a searched arch string: "
                                        "mnasnet | resnet_depth | addon; its settings as --space.key=value "
                                        "(--space.preset=tiny, --space.layers=[2,2,2])."),
    teacher: Optional[List[str]] = typer.Option(None, "--teacher", "-t", help="Teacher spec; repeat, comma-separate "
                                                "or give a directory for an ensemble."),
    loss: Optional[str] = typer.Option(None, help="ce | kd | od | dkd | dist (logits), feature_mse | cc | rkd | pkt | sp "
                                       "(embeddings), or a sum like kd+1*rkd "
                                       "(default: kd; with --from-run: the run's final.loss). Its settings: "
                                       "--loss.temperature=T (default 4 for kd, 3 for od), --loss.kd_weight=w."),
    epochs: Optional[float] = typer.Option(None, min=0, max=10_000, help="Training epochs, fractions allowed (default: 30; with "
                                           "--from-run: the run's final.optim.epochs). Other optimisation "
                                           "settings: --optim.lr=0.1, --optim.batch_size=128, --optim.schedule=step."),
    scheme: str = typer.Option("single", help="single (one loss) | takd (teacher -> --assistant -> student) | "
                               "rco (distil along the teacher's --route checkpoints) | dml (--peers students "
                               "trained mutually, plus --loss) | bss (plus KD on samples moved across the "
                               "teacher's decision boundary; teacher online). BSS settings: --scheme.bss_weight=2 "
                               "--scheme.bss_steps=10."),
    assistant: Optional[str] = typer.Option(None, help="TA-KD: the assistant's arch, between student and teacher "
                                            "in size (in --space when the student is a searched arch)."),
    route: Optional[Path] = typer.Option(None, help="RCO: a directory of the teacher's route checkpoints "
                                         "(`teacher train --route N` writes OUT/route/seed<S>/)."),
    peers: int = typer.Option(2, help="DML: how many students learn together (the first is saved)."),
    task: str = typer.Option("classify", help="classify | retrieval: train on --data.classes=[..] only and "
                             "report open-set top-1 identification among the other classes against 10 / 100 / "
                             "1000 distractors (AKD §6-7; use --loss ce or feature_mse with a teacher trained "
                             "on the same classes)."),
    seeds: Optional[str] = typer.Option(None, help="Seeds, e.g. 0,1,2 or 0-4: one training each; the table shows "
                                        "mean ± std (default: 0; with --from-run: the run's final.seeds)."),
    dataset: str = DatasetOpt,
    data_root: Optional[str] = RootOpt,
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Where checkpoints, results.json and the teacher "
                                           "cache go (default: runs/train; with --from-run: RUN/students)."),
    split: str = typer.Option("train", help="Train on 'train' (mini-train + mini-val) or 'minitrain'."),
    save_every: float = typer.Option(5, min=0, max=10_000, help="Keep each training's state every ~E epochs (in "
                                     "OUT/.resume/), so the same command after a kill continues from it and trains "
                                     "the model an uninterrupted run trains; 0: never (scheme single only)."),
    channels_last: str = ChannelsLastOpt,
    precision: str = PrecisionOpt,
    device: str = DeviceOpt,
    progress: bool = ProgressOpt,
) -> None:
    """Train one student (CE, KD, oracle KD, DKD, DIST, or with relation losses; or by TA-KD, RCO, DML)
    over several seeds; print mean ± std and save checkpoints.

    Augmentation: --augment=views (K cached augmented views, --teacher_views=K) | random
    (teacher online) | none.
    """
    from ..config import DataConfig, validate
    from ..retrain import retrain_from_run
    from ..runconfig import apply_overrides
    from ..spaces import space_config
    from ..training import SchemeConfig
    from ..trainer import train as train_student_seeds

    if from_run is not None:
        if ctx.args:
            raise DistillnasError(f"--from-run trains with the run's final config; {ctx.args[0]!r} does not apply "
                                  "(use --epochs, --seeds, --loss)")
        runs = retrain_from_run(from_run, top, epochs=epochs, seeds=parse_seeds(seeds) if seeds else None,
                                loss=loss, device=device, progress=progress, out_dir=out_dir,
                                channels_last=channels_last, precision=precision, save_every=save_every,
                                warn=lambda msg: err.print(f"warning: {msg}", soft_wrap=True))
        print_runs(runs, f"retrained from {from_run}")
        if not any(r.status == "ok" for r in runs):
            raise typer.Exit(1)
        from ..analysis import build_report

        out.print(f"report (with the retrained students): {build_report([from_run])}", soft_wrap=True)
        return
    if arch is None:
        raise DistillnasError("give --arch ARCH (a student to train) or --from-run RUN_DIR (retrain a search's best)")
    _warn_ignored(scheme, assistant=assistant, route=route, peers=peers)
    rest = [x for x in ctx.args if not x.startswith("--scheme.")]
    sch_over = apply_overrides({}, [x for x in ctx.args if x.startswith("--scheme.")]).get("scheme", {})
    sch = validate(SchemeConfig, {"name": scheme, "assistant": assistant, "route": str(route) if route else None,
                                  "peers": peers, **sch_over}, "scheme.")
    cfg, data_over, space_over = train_settings(loss or "kd", epochs, device, channels_last, rest, precision)
    data_cfg = validate(DataConfig, {"name": dataset, "root": data_root, **data_over}, "data.")
    done = train_student_seeds(arch, cfg, data_cfg, teacher=teacher or [], scheme=sch,
                               space=space_config(space, space_over), seeds=parse_seeds(seeds or "0"), split=split,
                               task=task, out_dir=out_dir or Path("runs/train"), progress=progress,
                               save_every=save_every)
    if not done.lead:
        return
    how = cfg.loss.name if sch.name == "single" else f"{sch.name} + {cfg.loss.name}"
    print_runs(done.runs, f"{dataset}: trained with {how} ({cfg.optim.epochs:g} epochs)")
    if done.retrieval:
        _retrieval_table(done.retrieval)
    out.print(f"checkpoints and results.json in {done.out_dir}")
    if not any(r.status == "ok" for r in done.runs):
        raise typer.Exit(1)


def _warn_ignored(scheme: str, assistant: Optional[str], route: Optional[Path], peers: int) -> None:
    """A scheme's own option given with another scheme is ignored: say so, as `search` does."""
    for flag, given, owner in (("--assistant", assistant is not None, "takd"), ("--route", route is not None, "rco"),
                               ("--peers", peers != 2, "dml")):
        if given and scheme != owner:
            log.warning("%s ignored: it applies to --scheme %s, not %s", flag, owner, scheme)


def _retrieval_table(results: list[dict]) -> None:
    """Each trained student's open-set identification, as a table (mean ± std over seeds)."""
    first = results[0]
    table = Table(title=f"open-set top-1 identification among classes {first['classes']} "
                        f"({first['probes']} probes, one match each)")
    table.add_column("distractors", justify="right")
    table.add_column("top-1 (%)", justify="right")
    for k, d in enumerate(first["distractors"]):
        vals = [100 * r["top1"][k] for r in results]
        spread = f" ± {statistics.stdev(vals):.2f}" if len(vals) > 1 else ""
        table.add_row(str(d), f"{statistics.mean(vals):.2f}{spread}")
    out.print(table)
