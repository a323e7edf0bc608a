"""`distillnas evaluate`: what any student checkpoint scores, weighs, costs and takes to run.

Test top-1 and per-class accuracy on a split of its dataset (the official test set where the
dataset has one), parameters, MACs and measured CPU latency at batch 1, with the input
preprocessing the checkpoint recorded (its normalisation; a checkpoint from before that record
is normalised as its dataset is). The dataset is the one the checkpoint was trained on unless
another is named; channels, image size and class count must agree, checked before any work.

Accuracy is computed in float32 by default: portable across CPUs. Training scores in its own
precision (bf16 where `auto` chose it); bf16 inference of one checkpoint differs from float32 by a
few hundredths of a point on Fashion-MNIST (0.00-0.08 on the showcase's checkpoints), and bf16 on
different CPU kernels by about as much (two seeds of the showcase's pick, scored in bf16 on
another machine than the one that trained them, differ by 0.02 from what training printed).
`precision="recorded"` scores in the training's recorded precision, which reproduces the test
score training printed on the same kind of CPU. Latency is always measured in float32.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .checkpoint import load_student
from .config import DataConfig, validate
from .cost import count_macs, count_params
from .cost.latency import measure_cpu_latency_stats
from .data import SPLIT_NAMES, ImageDataset, TensorLoader, prepare_data
from .errors import DistillnasError
from .precision import FP32, Precision, resolve_precision


@dataclass
class Evaluation:
    """What `evaluate_checkpoint` measured: a checkpoint's accuracy on a split and its costs."""
    checkpoint: str
    arch: str
    dataset: str
    split: str
    examples: int
    top1: float  # in [0, 1]
    per_class: list[float] = field(default_factory=list)  # top-1 of each class's examples
    params: int = 0
    macs: int = 0
    latency_ms: float | None = None  # median of batch-1 forward passes on one CPU thread
    preprocessing: dict[str, Any] = field(default_factory=dict)
    precision: str = "fp32"  # what the accuracy was computed in

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for JSON output."""
        return dataclasses.asdict(self)


def _data_config(meta: dict[str, Any], dataset: str | None, root: str | None) -> DataConfig:
    """The checkpoint's recorded data section (its splits), or the named dataset's defaults."""
    recorded = (meta.get("config") or {}).get("data") or {}
    name = dataset or recorded.get("name") or (meta.get("preprocessing") or {}).get("dataset")
    if name is None:
        raise DistillnasError("the checkpoint does not record its dataset; name one with --dataset")
    base = {k: v for k, v in recorded.items() if k != "classes"} if recorded.get("name") == name else {}
    return validate(DataConfig, {**base, "name": name, **({"root": root} if root is not None else {})}, "data.")


def _check_fit(ds: ImageDataset, meta: dict[str, Any], path: str) -> None:
    want = {"channels": (meta["in_channels"], ds.in_channels), "image size": (meta["input_size"], ds.input_size),
            "classes": (meta["num_classes"], ds.num_classes)}
    for what, (model, data) in want.items():
        if model != data:
            raise DistillnasError(f"checkpoint {path!r} takes {model} {what} but dataset {ds.name!r} has {data}; "
                                  "give the dataset it was trained on (--dataset)")


PRECISIONS = ("fp32", "recorded", "bf16")


def _scoring_precision(meta: dict[str, Any], setting: str) -> Precision:
    """The precision to score in: the training's (`recorded`; a checkpoint from before that record,
    or one trained in CUDA float16, which CPUs have no kernels for, scores in float32) or the one named."""
    name = ((meta.get("config") or {}).get("precision") or "fp32") if setting == "recorded" else setting
    return FP32 if name not in ("fp32", "bf16") else resolve_precision(name, torch.device("cpu"))


def _normalised_as_recorded(ds: ImageDataset, meta: dict[str, Any]) -> ImageDataset:
    pre = meta.get("preprocessing") or {}
    if pre.get("mean") and pre.get("std"):
        return dataclasses.replace(ds, mean=tuple(pre["mean"]), std=tuple(pre["std"]), _identity=[])
    return ds


def evaluate_checkpoint(path: str | Path, dataset: str | None = None, root: str | None = None, split: str = "test",
                        latency: bool = True, batch_size: int = 500, precision: str = "fp32") -> Evaluation:
    """Score a student checkpoint with the preprocessing it recorded (module docstring).

    Args:
        path: a checkpoint written by `train`, `train --from-run`, `teacher train` or a search.
        dataset: the dataset to score on (default: the one the checkpoint was trained on).
        root: the folder of an on-disk dataset.
        split: test (the official test set where there is one), minival, minitrain, train or
            holdout (training images the checkpoint's data.train_subset left out).
        latency: also measure batch-1 CPU latency (one thread, fp32).
        batch_size: examples per forward pass.
        precision: fp32 (portable across CPUs), recorded (the precision training scored it in,
            e.g. bf16: reproduces training's score on the same kind of CPU) or bf16.

    Returns:
        An `Evaluation`: top-1 and per-class accuracy, params, MACs, latency, preprocessing and
        the precision the accuracy was computed in.

    Raises:
        DistillnasError: a bad checkpoint, or a dataset whose channels, size or classes do not
            fit the model - checked before any work.
    """
    if split not in SPLIT_NAMES:
        raise DistillnasError(f"unknown split {split!r}; choose one of: {', '.join(SPLIT_NAMES)}")
    if precision not in PRECISIONS:
        raise DistillnasError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    model, meta = load_student(path)
    scoring = _scoring_precision(meta, precision)
    cfg = _data_config(meta, dataset, root)
    ds, splits = prepare_data(cfg)
    _check_fit(ds, meta, str(path))
    ds = _normalised_as_recorded(ds, meta)
    idx = splits.get(split)
    if not len(idx):
        raise DistillnasError(f"split {split!r} holds no images for {ds.name!r} here (holdout is what a "
                              "data.train_subset leaves out); choose test, minival, minitrain or train")
    preds = []
    with torch.inference_mode():
        for b in TensorLoader(ds, idx, batch_size):
            with scoring.autocast(torch.device("cpu")):
                preds.append(model(b.x).argmax(-1))
    pred, labels = torch.cat(preds), ds.labels[idx]
    right = (pred == labels).float()
    per_class = [float(right[labels == c].mean()) if bool((labels == c).any()) else float("nan")
                 for c in range(ds.num_classes)]
    shape = (1, ds.in_channels, ds.input_size, ds.input_size)
    lat = measure_cpu_latency_stats(model, shape).median_ms if latency else None
    return Evaluation(str(path), meta["arch"], ds.name, split, len(idx), float(right.mean()), per_class,
                      count_params(model), count_macs(model, shape), lat,
                      {"channels": ds.in_channels, "size": ds.input_size, "mean": list(ds.mean), "std": list(ds.std)},
                      scoring.name)
