"""Students x teachers (AKD Table 3): proxy-train each student under each teacher with KD,
and with CE as the ground-truth column; rank per teacher; Kendall tau between rankings."""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from .analysis.metrics import kendall_tau
from .data import DataConfig, prepare_data
from .errors import DistillnasError
from .spaces import student_of
from .teachers import TeacherCache, load_teacher
from .training import TrainConfig, train_student


@dataclass
class Ranking:
    """What `rank_students` measured: per student and seed, the accuracy after the short training."""
    archs: list[str]
    columns: list[str]  # "ce", then one per teacher
    scores: dict[str, list[float]]  # column -> mini-val top-1 per arch (mean over seeds)
    tau: dict[str, dict[str, float]]  # column x column

    def ranks(self, column: str) -> list[int]:
        """Each student's rank (1 = best) by its mean accuracy over seeds."""
        order = sorted(range(len(self.archs)), key=lambda i: -self.scores[column][i])
        return [order.index(i) + 1 for i in range(len(self.archs))]


def rank_students(archs: list[str], teachers: list[str], data: DataConfig, cfg: TrainConfig, seeds: list[int],
                  space: dict | None = None, cache_dir: str | None = None, progress: bool = False) -> Ranking:
    """Train each student briefly over seeds and rank them (the proxy's ranking, as a command)."""
    if len(teachers) < 2:
        raise DistillnasError(f"rank compares how teachers rank students: give at least two teachers, got {len(teachers)}")
    if len(archs) < 2:
        raise DistillnasError(f"rank needs at least two students to rank, got {len(archs)}")
    ds, splits = prepare_data(data)
    loaded = [load_teacher(t, ds) for t in teachers]
    cache = TeacherCache(cache_dir)
    columns = ["ce"] + teachers
    scores: dict[str, list[float]] = {c: [] for c in columns}
    for arch in archs:
        for column, teacher in zip(columns, [None] + loaded):
            loss = "ce" if teacher is None else cfg.loss.name
            run_cfg = cfg.model_copy(update={"loss": cfg.loss.model_copy(update={"name": loss})})
            student = student_of(arch, space, ds.num_classes, ds.in_channels, ds.input_size)
            runs = [train_student(student, run_cfg, ds, splits, teacher=teacher, cache=cache, seed=s,
                                  train_split="minitrain", eval_splits=("minival",), progress=progress) for s in seeds]
            scores[column].append(statistics.mean(r.metrics.get("minival", 0.0) for r in runs))
    tau = {a: {b: kendall_tau(scores[a], scores[b]) for b in columns} for a in columns}
    return Ranking(archs, columns, scores, tau)
