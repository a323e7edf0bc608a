"""Retrain a search's best archs from scratch with its final-training config and teacher."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from .config import TrainConfig
from .data import prepare_data
from .errors import DistillnasError
from .checkpoint import checkpoint_name, read_checkpoint
from .io import check_dir, ensure_dir
from .rundir import RunDir
from .teachers import TeacherCache, load_teacher
from .spaces import student_of
from .training.student import StudentRun, train_resumable

log = logging.getLogger("distillnas")


def retrain_from_run(run_dir: str | Path, top: int = 1, *, epochs: float | None = None, seeds: list[int] | None = None,
                     loss: str | None = None, device: str = "auto", progress: bool = False,
                     out_dir: str | Path | None = None, channels_last: str = "auto", precision: str = "auto",
                     warn: Callable[[str], None] = log.warning, save_every: float = 0) -> list[StudentRun]:
    """Train the top archs of a finished run, each over the final seeds; checkpoints go to
    out_dir (default RUN/students) and each result into the run store's finals. `save_every`
    E > 0 keeps each training's state every ~E epochs (OUT/.resume/), so the same call after a
    kill continues from the last kept stage (training.student.train_resumable)."""
    run = RunDir(run_dir)
    cfg, best = run.load()
    if top < 1:
        raise DistillnasError(f"--top must be >= 1, got {top}")
    if top > len(best["archs"]):
        warn(f"--top {top}, but {run.best_path} holds {len(best['archs'])} arch(s): retraining those")
    final = cfg.final
    tcfg = final.train_config(epochs, loss, device=device, channels_last=channels_last, precision=precision)
    recipe = f"{tcfg.loss.name}-e{tcfg.optim.epochs:g}".replace("*", "x").replace("+", "_")
    students = check_dir(out_dir or run.students / recipe, "output directory (--out)")
    seed_list = seeds or final.seeds
    _refuse_other_recipes(students, best, seed_list, top, tcfg)
    ds, splits = prepare_data(cfg.data)
    specs = run.teacher_members(cfg)
    teacher = load_teacher(specs, ds) if specs and tcfg.loss.name != "ce" else None
    cache = TeacherCache(run.teacher_cache)
    students = ensure_dir(students, "output directory (--out)")
    store = run.store()
    runs = []
    try:
        for entry in best["archs"][:top]:
            for seed in seed_list:
                student = student_of(entry["arch"], best["space"], ds.num_classes, ds.in_channels, ds.input_size)
                rc = {"search": str(run), "train": tcfg.model_dump(), "data": cfg.data.model_dump()}
                stem = Path(checkpoint_name(student.arch, tcfg.loss.name, seed, student.space)).stem
                r = train_resumable(student, tcfg, ds, splits, save_every=save_every,
                                    state_dir=students / ".resume" / stem,
                                    fingerprint={"arch": student.arch, "seed": seed, **rc}, teacher=teacher,
                                    cache=cache, seed=seed, out_dir=students, run_config=rc, progress=progress)
                store.add_final(r.arch, r.loss, seed, r.status, r.metrics.get("test"), r.params,
                                tcfg.optim.epochs, r.checkpoint)
                runs.append(r)
    finally:
        store.close()
    return runs


def _refuse_other_recipes(folder: Path, best: dict, seeds: list[int], top: int, tcfg: TrainConfig) -> None:
    """A retraining replaces only its own recipe's checkpoints (same loss and length): one made
    another way stays, and this one is refused before any work (the default folder is named by
    recipe, RUN/students/<loss>-e<epochs>/, so only an --out shared by two recipes meets this)."""
    for entry in best["archs"][:top]:
        for seed in seeds:
            path = folder / checkpoint_name(entry["arch"], tcfg.loss.name, seed, best.get("space"))
            if not path.is_file():
                continue
            train = read_checkpoint(path).get("config", {}).get("train", {})
            theirs = (train.get("loss", {}).get("name"), train.get("optim", {}).get("epochs"))
            if theirs != (tcfg.loss.name, tcfg.optim.epochs):
                raise DistillnasError(f"{str(path)!r} was trained with another recipe (loss {theirs[0]}, {theirs[1]} "
                                      f"epochs; this one: {tcfg.loss.name}, {tcfg.optim.epochs:g} epochs): give "
                                      "another --out, or move that checkpoint away to replace it")
