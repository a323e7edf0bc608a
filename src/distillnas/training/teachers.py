"""Teacher ensembles: N independently seeded networks of one arch (the KDAS ensemble teacher)."""
from __future__ import annotations

import json
from pathlib import Path

from ..data import DataConfig
from .config import TrainConfig
from ..data import prepare_data
from ..teachers import EnsembleReport, evaluate_teacher, load_teacher
from .student import StudentRun, train_student


def train_teachers(arch: str, seeds: list[int], data_cfg: DataConfig, cfg: TrainConfig, out_dir: str | Path,
                   progress: bool = False) -> tuple[list[StudentRun], EnsembleReport]:
    """Train one member per seed on the whole training pool with CE; report on the test split."""
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
