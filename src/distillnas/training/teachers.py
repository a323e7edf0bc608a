"""Teacher ensembles: N independently seeded networks of one arch (the KDAS ensemble teacher)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from torch import Tensor

from ..checkpoint import checkpoint_name, read_checkpoint, student_from_payload
from ..cost import count_params
from ..data import DataConfig, ImageDataset, prepare_data
from ..io import atomic_write_text, ensure_dir
from ..models import build_model
from ..recipe import TrainConfig
from ..section import settings_match
from ..teachers import EnsembleReport, evaluate_teacher, load_teacher
from .student import StudentRun, run_defaults, train_in_stages, train_resumable


def train_teachers(arch: str, seeds: list[int], data_cfg: DataConfig, cfg: TrainConfig, out_dir: str | Path,
                   progress: bool = False, route: int = 0, save_every: float = 0) -> tuple[list[StudentRun], EnsembleReport]:
    """Train one member per seed on the whole training pool with CE; report on the test split.

    Teachers are the long trainings, so a run can be killed and started again: a member whose
    checkpoint OUT holds with the same recorded data and training config is kept, not trained
    again, and `save_every` E > 0 keeps the member's training state every ~E epochs (in
    OUT/.resume/seed<S>/), so a killed member continues from its last saved stage - the same
    model an uninterrupted run trains.
    `route` N > 0 also keeps N anchors of each member's training for RCO (schemes.py):
    OUT/route/seed<S>/e<epoch>.pt at epochs E/N, 2E/N, .., E (the last is the member itself).
    The member is trained in N continued stages of one schedule, so it is the member a plain
    run trains."""
    ds, splits = prepare_data(data_cfg)
    build_model(arch, ds.num_classes, ds.in_channels, ds.input_size)  # a bad arch before anything is written
    out_dir = ensure_dir(out_dir, "output directory (--out)")
    run_config = {"data": data_cfg.model_dump(), "train": cfg.model_dump(), "role": "teacher"}
    runs = []
    for s in seeds:
        kept = _kept_member(out_dir / checkpoint_name(arch, cfg.loss.name, s), arch, s, run_config)
        if kept is not None:
            runs.append(kept)
        elif route:
            runs.append(_with_route(arch, cfg, ds, splits, s, out_dir, run_config, route, progress))
        else:
            runs.append(_member(arch, cfg, ds, splits, s, out_dir, run_config, save_every, progress))
    paths = [r.checkpoint for r in runs if r.checkpoint]
    return runs, record_ensemble(arch, seeds, paths, ds, splits.test, out_dir)


def _kept_member(path: Path, arch: str, seed: int, run_config: dict) -> StudentRun | None:
    """The finished member at `path` when it was trained as `run_config` asks, else None."""
    if not path.is_file():
        return None
    ckpt = read_checkpoint(path)
    recorded = {k: v for k, v in ckpt.get("config", {}).items() if k != "precision"}
    current = json.loads(json.dumps(run_config, default=str))
    if ckpt.get("arch") != arch or not settings_match(recorded, current, run_defaults()):
        return None
    metrics = {k: v for k, v in ckpt.get("metrics", {}).items() if k != "status"}
    params = count_params(student_from_payload(ckpt, path)[0])
    return StudentRun(arch, run_config["train"]["loss"]["name"], seed, "ok", metrics, params, 0.0, 0.0,
                      checkpoint=str(path), kept=True)


def _member(arch: str, cfg: TrainConfig, ds, splits, seed: int, out_dir: Path, run_config: dict,  # noqa: ANN001
            save_every: float, progress: bool) -> StudentRun:
    """One member, in resumable stages of about `save_every` epochs when it is longer than that."""
    return train_resumable(arch, cfg, ds, splits, save_every=save_every, state_dir=out_dir / ".resume" / f"seed{seed}",
                           fingerprint={"arch": arch, "seed": seed, **run_config}, seed=seed, train_split="train",
                           eval_splits=("test",), out_dir=out_dir, run_config=run_config, progress=progress)


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
    """One member trained in `anchors` continued stages, each stage's end kept as an anchor (a killed
    run continues after its last kept stage)."""
    route = out_dir / "route" / f"seed{seed}"
    route.mkdir(parents=True, exist_ok=True)

    def keep(k: int, epochs: float, run: StudentRun) -> None:
        if run.checkpoint is not None:  # the member itself stays in out_dir; earlier stages move
            (shutil.copyfile if k == anchors else os.replace)(run.checkpoint, route / f"e{epochs:g}.pt")

    run = train_in_stages(arch, cfg, ds, splits, anchors, route, stage_out=route, after_stage=keep,
                          out_dir=out_dir, seed=seed, train_split="train", run_config=run_config,
                          progress=progress, fingerprint={"arch": arch, "seed": seed, "route": anchors, **run_config})
    if run.status == "ok":
        (route / "fingerprint.json").unlink(missing_ok=True)
    return run
