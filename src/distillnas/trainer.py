"""`train`: one student over several seeds, from configs to checkpoints - what `distillnas train`
runs, callable from Python. The CLI only parses flags into these typed arguments and prints.
It lives above `training/` because it turns arch strings of search spaces into `Student`s:
training itself takes students and knows nothing of spaces."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .data import DataConfig, prepare_data
from .errors import DistillnasError
from .io import atomic_write_text, check_dir, ensure_dir
from .checkpoint import load_student
from .retrieval import check_retrieval_teacher, evaluate_retrieval, heldout
from .spaces import student_of
from .teachers import TeacherCache, load_teacher
from .recipe import TrainConfig
from .training.device import resolve_device
from .training.distributed import init_from_env, launched_world
from .training.schemes import SCHEMES, SchemeConfig, check_scheme, train_with_scheme
from .training.student import StudentRun, check_teacher_for_loss

TASKS = ("classify", "retrieval")
SPLITS = ("train", "minitrain")


@dataclass
class TrainOutcome:
    """What `train` produced: one run per seed, where they were written, and (task retrieval) each
    trained student's open-set identification. `lead` is False on the non-zero ranks of a
    data-parallel run, which train but neither report nor write."""

    runs: list[StudentRun]
    out_dir: Path
    retrieval: list[dict] = field(default_factory=list)
    lead: bool = True


def train(arch: str, config: TrainConfig, data: DataConfig, *, teacher: Sequence[str] = (),
          scheme: SchemeConfig | None = None, space: dict | None = None, seeds: Sequence[int] = (0,),
          split: str = "train", task: str = "classify", out_dir: str | Path = "runs/train",
          progress: bool = False, save_every: float = 0) -> TrainOutcome:
    """Train `arch` once per seed under `config` (loss, optimiser, augmentation) and `scheme`.

    Args:
        arch: a man-made arch (resnet20, wrn-16-4, mobilenetv2-w0.5) or, with `space`, an arch
            string of that search space.
        config: the training config (`TrainConfig`).
        data: the dataset and its splits (`DataConfig`).
        teacher: teacher specs (checkpoints, directories, logits files); several form an ensemble.
        scheme: single loss (default), TA-KD, RCO, DML or BSS (`SchemeConfig`).
        space: the config of the search space `arch` belongs to (`space_from_config(..).config()`).
        seeds: one training per seed.
        split: train on "train" (mini-train + mini-val) or "minitrain".
        task: "classify", or "retrieval" (train on data.classes, report open-set identification).
        out_dir: checkpoints, results.json and the teacher cache.
        progress: show a progress bar (a terminal) or progress lines (a log file).
        save_every: E > 0 keeps each seed's training state every ~E epochs (OUT/.resume/), so the
            same call after a kill continues from the last kept stage and trains the model an
            uninterrupted run trains (the single scheme; others train unsplit). 0: no stages.

    Raises:
        DistillnasError: any bad input, before anything is trained or written.
    """
    scheme = scheme or SchemeConfig()
    if not 0 <= save_every <= 10_000:
        raise DistillnasError(f"save_every {save_every!r}: give epochs between 0 (no stages) and 10000")
    if task not in TASKS:
        raise DistillnasError(f"--task {task!r}: choose classify or retrieval")
    if split not in SPLITS:
        raise DistillnasError(f"--split {split!r}: train on 'train' or 'minitrain'")
    if task == "retrieval" and not data.classes:
        raise DistillnasError("task retrieval trains on some classes and retrieves among the others: give the "
                              "training classes as --data.classes=[0,1,2,3,4,5,6]")
    kind = SCHEMES.get(scheme.name)
    if launched_world() > 1 and not kind.data_parallel:  # refused before joining the process group
        raise DistillnasError(f"--scheme {scheme.name} is not data-parallel (its assistant / route stages pass "
                              "checkpoints between runs); run it as one process")
    group = init_from_env(resolve_device(config.device))  # under torchrun: data-parallel (distributed.py)
    ds, splits = prepare_data(data)
    if task == "retrieval":
        heldout(ds, data.classes)  # enough classes left to retrieve among, checked before training
        if teacher:
            check_retrieval_teacher(list(teacher), data.classes)
    shape = (ds.num_classes, ds.in_channels, ds.input_size)
    student = student_of(arch, space, *shape)  # a bad arch string is found before anything is written
    assistant = student_of(scheme.assistant, space, *shape) if scheme.assistant and scheme.name == "takd" else None
    t = load_teacher(list(teacher), ds) if teacher else None
    check_scheme(scheme, student, ds, t, config.loss.name, assistant)
    if not kind.own_teachers:  # RCO's teachers are its route's checkpoints
        check_teacher_for_loss(config.loss.name, t)
    out = check_dir(Path(out_dir), "output directory (--out)")
    run_config = {"data": data.model_dump(), "train": config.model_dump(), "teacher": list(teacher),
                  "scheme": scheme.model_dump()}
    cache = TeacherCache(out / "teacher_cache")
    runs = [train_with_scheme(student, config, ds, splits, scheme, assistant=assistant, teacher=t, cache=cache,
                              seed=s, train_split=split, eval_splits=("test",), out_dir=out, run_config=run_config,
                              progress=progress, save_every=save_every)
            for s in seeds]
    if not group.lead:  # rank 0 reports and writes; the others trained the same model
        return TrainOutcome(runs, out, lead=False)
    atomic_write_text(ensure_dir(out, "output directory (--out)") / "results.json",
                      json.dumps([r.as_dict() for r in runs], indent=2))
    found = []
    if task == "retrieval":
        found = [evaluate_retrieval(load_student(r.checkpoint)[0], ds, data.classes).as_dict()
                 for r in runs if r.status == "ok" and r.checkpoint]
        if found:
            atomic_write_text(out / "retrieval.json", json.dumps(found, indent=2))
    return TrainOutcome(runs, out, found)
