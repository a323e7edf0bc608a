"""The probe batch and scoring one arch: the glue between datasets, teachers and the scores."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from ..data import ImageDataset, Normalizer, Splits
from ..errors import DistillnasError
from ..teachers import Ensemble, FlipAveraged, LogitsTeacher, ModuleTeacher, Teacher
from .scores import SCORES, TEACHER_SCORES, Probe, teacher_view


def teacher_modules(teacher: Teacher | None) -> list[nn.Module]:
    """The networks of a teacher (every member of an ensemble); [] for a logits file or none."""
    if teacher is None or isinstance(teacher, LogitsTeacher):
        return []
    if isinstance(teacher, ModuleTeacher):
        return [teacher.module]
    if isinstance(teacher, FlipAveraged):  # the same network; the mirror is an inference detail
        return [teacher.inner.module]
    if isinstance(teacher, Ensemble):
        mods = [teacher_modules(m) for m in teacher.members]
        return [m for ms in mods for m in ms] if all(mods) else []
    raise DistillnasError(f"unknown teacher type {type(teacher).__name__}")


def make_probe(ds: ImageDataset, splits: Splits, teacher: Teacher | None, batch_size: int = 64, seed: int = 0,
               with_teacher: bool = True) -> Probe:
    """`batch_size` training images drawn with `seed` (the same for every candidate), and the
    teacher's DisWOT matrices on them when `with_teacher`."""
    pool = splits.minitrain
    if batch_size > len(pool):
        raise DistillnasError(f"zero-cost batch_size {batch_size} exceeds the {len(pool)} training images")
    g = torch.Generator().manual_seed(seed)
    idx = pool[torch.randperm(len(pool), generator=g)[:batch_size]]
    x, y = Normalizer(ds)(ds.images[idx]), ds.labels[idx].long()
    probe = Probe(x, y, ds.num_classes)
    if with_teacher:
        for m in teacher_modules(teacher):
            probe.teachers.append(teacher_view(m.cpu(), x, y))
    return probe


def score_model(build: Callable[[], nn.Module], names: list[str], probe: Probe, seed: int) -> dict[str, float]:
    """{score: value} for a freshly initialised model per score (scores may modify it):
    `build()` makes the model, initialised from `seed` so every score sees the same weights."""
    out: dict[str, float] = {}
    for n in names:
        if n in TEACHER_SCORES and not probe.teachers:
            raise DistillnasError(f"score {n!r} needs a teacher network")
        torch.manual_seed(seed)
        out[n] = SCORES.get(n)(build(), probe)
    return out
