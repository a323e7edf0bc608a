"""Teacher zoo: N independently seeded networks of one arch (the KDAS ensemble teacher)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..config import DataConfig, TrainConfig
from ..data import ImageDataset, make_views
from .cache import TeacherCache
from .evaluate import EnsembleReport, ensemble_report
from .load import load_teacher


def evaluate_teacher(teacher, ds: ImageDataset, split: str, indices: torch.Tensor,  # noqa: ANN001
                     cache: TeacherCache | None = None) -> EnsembleReport:
    """Members', average-logit and oracle accuracy on a split, from (cached) plain-view outputs."""
    cache = cache or TeacherCache(None)
    outputs = cache.get(teacher, ds, split, indices, make_views(len(indices), 1, ds.pad, ds.flip, 0))
    return ensemble_report(outputs.logits[0], ds.labels[indices])


def train_teachers(arch: str, seeds: list[int], data_cfg: DataConfig, cfg: TrainConfig, out_dir: str | Path,
                   progress: bool = False) -> tuple[list, EnsembleReport]:
    """Train one member per seed on the whole training pool with CE; report on the test split."""
    from ..data import prepare_data
    from ..train import train_student

    out_dir = Path(out_dir)
    ds, splits = prepare_data(data_cfg)
    run_config = {"data": data_cfg.model_dump(), "train": cfg.model_dump(), "role": "teacher"}
    runs = [train_student(arch, cfg, ds, splits, seed=s, train_split="train", eval_splits=("test",),
                          out_dir=out_dir, run_config=run_config, progress=progress) for s in seeds]
    paths = [r.checkpoint for r in runs if r.checkpoint]
    report = evaluate_teacher(load_teacher(paths, ds), ds, "test", splits.test)
    (out_dir / "ensemble.json").write_text(json.dumps({"arch": arch, "seeds": seeds, "members": paths,
                                                       "test": report.as_dict()}, indent=2))
    return runs, report
