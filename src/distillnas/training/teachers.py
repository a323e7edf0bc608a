"""Teacher ensembles: N independently seeded networks of one arch (the KDAS ensemble teacher)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from torch import Tensor

from ..data import DataConfig, ImageDataset, prepare_data
from ..io import atomic_write_text, ensure_dir
from ..models import build_model
from .config import TrainConfig
from ..teachers import EnsembleReport, evaluate_teacher, load_teacher
from .student import StudentRun, train_in_stages, train_student


def train_teachers(arch: str, seeds: list[int], data_cfg: DataConfig, cfg: TrainConfig, out_dir: str | Path,
                   progress: bool = False, route: int = 0) -> tuple[list[StudentRun], EnsembleReport]:
    """Train one member per seed on the whole training pool with CE; report on the test split.

    `route` N > 0 also keeps N anchors of each member's training for RCO (schemes.py):
    OUT/route/seed<S>/e<epoch>.pt at epochs E/N, 2E/N, .., E (the last is the member itself).
    The member is trained in N continued stages of one schedule, so it is the member a plain
    run trains."""
    ds, splits = prepare_data(data_cfg)
    build_model(arch, ds.num_classes, ds.in_channels, ds.input_size)  # a bad arch before anything is written
    out_dir = ensure_dir(out_dir, "output directory (--out)")
    run_config = {"data": data_cfg.model_dump(), "train": cfg.model_dump(), "role": "teacher"}
    if route:
        runs = [_with_route(arch, cfg, ds, splits, s, out_dir, run_config, route, progress) for s in seeds]
    else:
        runs = [train_student(arch, cfg, ds, splits, seed=s, train_split="train", eval_splits=("test",),
                              out_dir=out_dir, run_config=run_config, progress=progress) for s in seeds]
    paths = [r.checkpoint for r in runs if r.checkpoint]
    return runs, record_ensemble(arch, seeds, paths, ds, splits.test, out_dir)


def record_ensemble(arch: str, seeds: list[int], paths: list[str], ds: ImageDataset, test: Tensor,
                    out_dir: str | Path) -> EnsembleReport:
    """Evaluate the ensemble of `paths` on the test split and write OUT/ensemble.json.

    Called once the whole ensemble exists: a search trains its members one call per seed (so an
    interrupted one resumes per member), and the record must name every member, not the last."""
    report = evaluate_teacher(load_teacher(paths, ds), ds, "test", test)
    atomic_write_text(Path(out_dir) / "ensemble.json", json.dumps({"arch": arch, "seeds": seeds, "members": paths,
                                                             "test": report.as_dict()}, indent=2))
    return report


def _with_route(arch: str, cfg: TrainConfig, ds, splits, seed: int, out_dir: Path, run_config: dict,  # noqa: ANN001
                anchors: int, progress: bool) -> StudentRun:
    """One member trained in `anchors` continued stages, each stage's end kept as an anchor."""
    route = out_dir / "route" / f"seed{seed}"
    route.mkdir(parents=True, exist_ok=True)

    def keep(k: int, epochs: float, run: StudentRun) -> None:
        if run.checkpoint is not None:  # the member itself stays in out_dir; earlier stages move
            (shutil.copyfile if k == anchors else os.replace)(run.checkpoint, route / f"e{epochs:g}.pt")

    return train_in_stages(arch, cfg, ds, splits, anchors, route, stage_out=route, after_stage=keep,
                           out_dir=out_dir, seed=seed, train_split="train", run_config=run_config,
                           progress=progress)
