"""Training of one student (a man-made arch or a searched one) with any loss, and its checkpoint.

`train_student` wires a dataset, a teacher (through the output cache) and a loss around
`fit` and writes a checkpoint that carries the arch string and the resolved config.
"""
from __future__ import annotations

import contextlib
import json
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from ..checkpoint import checkpoint_name, save_checkpoint
from ..recipe import TrainConfig
from ..section import settings_match
from ..data import DataConfig, ImageDataset, Normalizer, Splits, TensorLoader, make_views
from ..distill import build_loss, parse_loss_spec
from ..distill.losses import TeacherOutput
from ..errors import DistillnasError
from ..cost import count_params
from ..io import atomic_torch_save, atomic_write_text, safe_torch_load
from ..models import Student, man_made
from ..teachers import Teacher, TeacherCache
from .cohort import Cohort, MutualLoss
from .device import resolve_device, use_channels_last, use_compile
from ..precision import resolve_precision
from .distributed import global_batch_norm, ranks
from .loop import Targets, fit


@dataclass
class StudentRun:
    """What one training of one student produced."""

    arch: str
    loss: str
    seed: int
    status: str
    metrics: dict[str, float]
    params: int
    wall_s: float
    images_per_s: float
    checkpoint: str | None = None
    error: str = ""
    continued: bool = False  # resumed from a lower fidelity's state (multi-fidelity)
    kept: bool = False  # an earlier, identical run's checkpoint, not trained again (teachers)

    def as_dict(self) -> dict:
        return asdict(self)


def loss_uses(spec: str, name: str) -> bool:
    """Whether a loss spec uses the named loss (e.g. 'od' in 'od+0.5*rkd')."""
    return any(n == name for _, n in parse_loss_spec(spec))


def check_teacher_for_loss(spec: str, teacher: Teacher | None, where: str = "--loss") -> None:
    """Clear errors before any training: a missing teacher, or oracle KD without an ensemble.

    `where` names the setting that chose the loss (a CLI flag or a config key), so the hint
    says what to change in the user's own terms."""
    loss = build_loss(spec)
    if loss.needs_teacher and teacher is None:
        raise DistillnasError(f"loss {spec!r} distils from a teacher: give one with --teacher (or set {where} ce)"
                              if where.startswith("--") else
                              f"{where}={spec!r} distils from a teacher: set teacher.spec (or {where}=ce)")
    if teacher is not None and loss_uses(spec, "od") and teacher.num_members < 2:
        fix = f"{where} kd" if where.startswith("--") else f"{where}=kd"
        raise DistillnasError(f"loss 'od' (oracle KD) needs an ensemble teacher of 2 or more members; "
                              f"{teacher.name!r} has {teacher.num_members}. Use {fix} for a single teacher")


def make_targets(teacher: Teacher, ds: ImageDataset, split: str, indices: torch.Tensor, cfg: TrainConfig,
                 cache: TeacherCache, features: bool, seed: int) -> tuple[Targets, str, object]:
    """(targets for a batch, the loader's augment mode, its view table) for one training split."""
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    if cfg.augment == "random":
        def online(b) -> TeacherOutput:  # noqa: ANN001 - the teacher in the student's precision
            with precision.autocast(device):
                return teacher.outputs(b.x, indices[b.pos], features)
        return online, "random", None
    views = make_views(indices, cfg.teacher_views if cfg.augment == "views" else 1, ds.pad, ds.flip, seed)
    outputs = cache.get(teacher, ds, split, indices, views, features, precision=precision)
    return (lambda b: outputs.batch(b.pos, b.view)), ("views" if cfg.augment == "views" else "none"), views


def _steps_left(cfg: TrainConfig, steps_per_epoch: int, resume: dict | None) -> int:
    """The optimiser steps this call will run (what a compile must repay)."""
    return math.ceil(cfg.optim.epochs * steps_per_epoch) - int((resume or {}).get("step", 0))


def train_student(student: Student | str, cfg: TrainConfig, ds: ImageDataset, splits: Splits, *,
                  teacher: Teacher | None = None, cache: TeacherCache | None = None, seed: int = 0,
                  train_split: str = "train", eval_splits: tuple[str, ...] = ("test",),
                  out_dir: str | Path | None = None, run_config: dict | None = None,
                  progress: bool = False, horizon: float | None = None, restarts: tuple[float, ...] = (),
                  resume_from: str | Path | None = None, save_state: str | Path | None = None,
                  cohort: int = 1, extra=None, recalibrate: int = 0) -> StudentRun:  # noqa: ANN001
    """Train a student on one split under cfg.loss, evaluate, and (if out_dir) save a checkpoint.

    `student` says what to build (`models.Student`: an arch label, a model factory and the
    space a checkpoint records so `load_student` can rebuild it; `spaces.student_of` makes one
    from an arch string); a plain string is a man-made arch name (resnet20).
    Multi-fidelity: the lr schedule spans `horizon` epochs (its cosine restarting at the epochs
    `restarts`: fit); the training continues from the
    state file `resume_from` when it exists (else it starts afresh: same result, more work),
    and leaves its own state in `save_state` for a later, longer rung.
    `cohort` > 1 trains that many peers of the arch by deep mutual learning (schemes.py); the
    first peer is the student evaluated and saved. `extra` adds a term computed from the
    model and the batch (loop.Extra; BSS). `recalibrate` > 0 scores the eval splits after
    re-estimating the batch-norm statistics on that many training batches (loop.recalibrated:
    what a multi-fidelity rung below the top is scored with); the checkpoint and state keep
    the trained statistics.
    """
    student = resolve_student(student, ds)  # before seeding: checking a name builds a model once
    spec = cfg.loss.name
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    torch.manual_seed(seed)
    arch, space, model = student.arch, student.space, student.build()
    check_teacher_for_loss(spec, teacher)
    indices = splits.get(train_split)
    loss, targets, augment, views = _loss_and_targets(model, cfg, ds, train_split, indices, teacher,
                                                      cache or TeacherCache(None, cfg.eval_batch_size, device))
    group = ranks()
    if group.world > 1:  # data-parallel (distributed.py): batch statistics of the global batch
        model = global_batch_norm(model)
        out_dir = out_dir if group.lead else None
    first = model  # the student evaluated and saved (the first peer of a cohort)
    if cohort > 1:
        model = Cohort([first] + [student.build() for _ in range(cohort - 1)])
        loss = MutualLoss(loss)
    cl = use_channels_last(cfg.channels_last, device, model)
    loader = TensorLoader(ds, indices, cfg.optim.batch_size, shuffle=True, augment=augment, views=views,
                          seed=seed, drop_last=len(indices) > cfg.optim.batch_size, channels_last=cl,
                          shard=group.shard)
    evals = {s: TensorLoader(ds, splits.get(s), cfg.eval_batch_size) for s in eval_splits}
    resume = None
    if resume_from is not None and Path(resume_from).is_file():
        resume = safe_torch_load(resume_from, "multi-fidelity state")
    res = fit(model, loss, loader, cfg.optim, targets=targets, evals=evals, device=device, channels_last=cl,
              progress=progress, label=f"{arch} {spec} seed {seed}", horizon=horizon, restarts=restarts,
              resume=resume,
              keep_state=save_state is not None, extra=extra, precision=precision,
              compiled=use_compile(cfg.compile, _steps_left(cfg, len(loader), resume), device),
              recalibrate=recalibrate)
    if res.state is not None and save_state is not None:
        atomic_torch_save(save_state, res.state)
    model = first
    run = StudentRun(arch, spec, seed, res.status, res.metrics, count_params(model), res.wall_s,
                     res.images_per_s, error=res.error, continued=resume is not None)
    if out_dir is not None and res.status == "ok":
        name = checkpoint_name(arch, spec, seed, space)
        run.checkpoint = str(save_checkpoint(Path(out_dir) / name, model.cpu(), arch, ds.num_classes,
                                             ds.in_channels, ds.input_size,
                                             {**(run_config or {"train": cfg.model_dump()}), "precision": precision.name},
                                             {**res.metrics, "status": res.status}, space=space,
                                             preprocessing=preprocessing(ds)))
    return run


def preprocessing(ds: ImageDataset) -> dict:
    """What a model trained on `ds` expects of its input (recorded in its checkpoint)."""
    return {"dataset": ds.name, "channels": ds.in_channels, "size": ds.input_size, "mean": list(ds.mean),
            "std": list(ds.std)}


def _loss_and_targets(model: nn.Module, cfg: TrainConfig, ds: ImageDataset, split: str, indices: torch.Tensor,
                      teacher, cache: TeacherCache):  # noqa: ANN001, ANN202
    """The loss (sized to the student's and teacher's features when it reads them) and, when it
    needs a teacher, the cached targets with the augmentation they fix: (loss, targets, augment, views)."""
    spec = cfg.loss.name
    loss = build_loss(spec, cfg.loss.temperature, cfg.loss.kd_weight)
    if not loss.needs_teacher:
        return loss, None, ("random" if cfg.augment != "none" else "none"), None
    features = loss.needs_features
    if features:
        t_feats = teacher.outputs(_first_images(ds, indices), indices[:2], True).features
        t_dim = t_feats.shape[0] * t_feats.shape[-1]  # members' features side by side (FeatureMSE)
        loss = build_loss(spec, cfg.loss.temperature, cfg.loss.kd_weight, model.num_features, t_dim)
    targets, augment, views = make_targets(teacher, ds, split, indices, cfg, cache, features,
                                           seed=10_000 + len(indices))
    return loss, targets, augment, views


def train_in_stages(student: Student | str, cfg: TrainConfig, ds: ImageDataset, splits: Splits, stages: int, state_dir: Path, *,
                    stage_teacher: Callable[[int], object] | None = None, stage_out: str | Path | None = None,
                    after_stage: Callable[[int, float, StudentRun], None] | None = None,
                    out_dir: str | Path | None = None, eval_splits: tuple[str, ...] = ("test",),
                    fingerprint: dict | None = None, **common) -> StudentRun:  # noqa: ANN003
    """One run of cfg.optim.epochs split into `stages` equal, continued stages (one lr schedule).

    Stage k ends at epoch E*k/stages; its training state goes to `state_dir` and the next stage
    continues from it, so the final model is the one an unsplit run trains. `stage_teacher(k)`
    gives stage k's teacher (RCO's anchors), `stage_out` where non-final stages write their
    checkpoint, and `after_stage(k, epochs, run)` sees each finished stage (teacher routes keep
    it as an anchor). Only the last stage evaluates and writes to `out_dir`.

    With `fingerprint` (what makes two runs the same run: arch, seed, data, training config)
    the run survives a kill: it continues after the last stage whose state `state_dir` holds
    under the same fingerprint, so at most one stage's work is lost; states of another
    fingerprint are discarded."""
    total, wall, run = cfg.optim.epochs, 0.0, None
    first, prev = _resume_point(Path(state_dir), stages, fingerprint) if fingerprint is not None else (1, None)
    for k in range(first, stages + 1):
        last, epochs = k == stages, total * k / stages
        stage = cfg.model_copy(update={"optim": cfg.optim.model_copy(update={"epochs": epochs})})
        state = Path(state_dir) / f"stage{k}.state"
        run = train_student(student, stage, ds, splits, teacher=stage_teacher(k) if stage_teacher else None,
                            out_dir=out_dir if last else stage_out, eval_splits=eval_splits if last else (),
                            horizon=total, resume_from=prev, save_state=None if last else state, **common)
        wall += run.wall_s
        if prev is not None:
            prev.unlink(missing_ok=True)
        if run.status != "ok":
            break
        if after_stage is not None:
            after_stage(k, epochs, run)
        prev = state
    run.wall_s = wall  # type: ignore[union-attr]
    return run  # type: ignore[return-value]


def train_resumable(student: Student | str, cfg: TrainConfig, ds: ImageDataset, splits: Splits, *, save_every: float,
                    state_dir: Path, fingerprint: dict, teacher: Teacher | None = None,
                    out_dir: str | Path | None = None, eval_splits: tuple[str, ...] = ("test",),
                    **common) -> StudentRun:  # noqa: ANN003
    """One training that survives a kill: in continued stages of about `save_every` epochs when it
    is longer than that (train_in_stages), its state kept in `state_dir` under `fingerprint`, so
    running it again continues after the last finished stage - the model an uninterrupted run
    trains, at most one stage's work lost. The states are removed once it finishes."""
    stages = min(1000, math.ceil(cfg.optim.epochs / save_every)) if save_every > 0 else 1
    if stages <= 1:
        return train_student(student, cfg, ds, splits, teacher=teacher, out_dir=out_dir, eval_splits=eval_splits,
                             **common)
    run = train_in_stages(student, cfg, ds, splits, stages, state_dir, out_dir=out_dir, eval_splits=eval_splits,
                          stage_teacher=(lambda k: teacher) if teacher is not None else None,
                          fingerprint=fingerprint, **common)
    if run.status == "ok":
        shutil.rmtree(state_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # the parent (OUT/.resume) too, once no run needs it
            Path(state_dir).parent.rmdir()
    return run


def _resume_point(state_dir: Path, stages: int, fingerprint: dict) -> tuple[int, Path | None]:
    """(first stage to run, the state it continues from) for a staged run that may have been killed."""
    state_dir.mkdir(parents=True, exist_ok=True)
    mark, wanted = state_dir / "fingerprint.json", json.dumps(fingerprint, sort_keys=True, default=str)
    if not mark.is_file() or not _same_run(mark, wanted):
        for old in state_dir.glob("stage*.state"):
            old.unlink()
        atomic_write_text(mark, wanted)
        return 1, None
    done = [k for k in range(1, stages) if (state_dir / f"stage{k}.state").is_file()]
    return (max(done) + 1, state_dir / f"stage{max(done)}.state") if done else (1, None)


def run_defaults() -> dict:
    """The defaults of the sections a run records (`data`, `train`), as JSON data: what a
    setting added after a record was written reads as (`section.settings_match`)."""
    return {"data": DataConfig().model_dump(mode="json"), "train": TrainConfig().model_dump(mode="json")}


def _same_run(mark: Path, wanted: str) -> bool:
    """Whether the fingerprint file `mark` records the run `wanted` (JSON) asks for."""
    try:
        recorded = json.loads(mark.read_text())
    except (OSError, ValueError):
        return False
    return settings_match(recorded, json.loads(wanted), run_defaults())


def resolve_student(student: Student | str, ds: ImageDataset) -> Student:
    """A `Student` as given, or a man-made arch name made into one for `ds`."""
    return man_made(student, ds.num_classes, ds.in_channels, ds.input_size) if isinstance(student, str) else student


def _first_images(ds: ImageDataset, indices: torch.Tensor) -> torch.Tensor:
    return Normalizer(ds)(ds.images[indices[:2]])
