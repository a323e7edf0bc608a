"""Datasets by name, splits and the in-memory loader."""
from __future__ import annotations

from ..config import DataConfig
from ..errors import DistillnasError
from ..registry import Registry
from . import cifar, embedded, imagefolder
from .base import SPLIT_NAMES, ImageDataset, Splits, make_splits
from .loader import Batch, Normalizer, TensorLoader, ViewTable, crop_flip, make_views, render_view

DATASETS: Registry = Registry("dataset")
DATASETS.register("mnist5k")(embedded.mnist5k)
DATASETS.register("digits")(embedded.digits)
DATASETS.register("synthetic")(embedded.synthetic)
DATASETS.register("cifar10")(cifar.cifar10)
DATASETS.register("cifar100")(cifar.cifar100)
DATASETS.register("imagefolder")(imagefolder.imagefolder)


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
    ds = load_dataset(cfg.name, cfg.root, **options)
    return ds, make_splits(ds, cfg.val_fraction, cfg.test_fraction, cfg.seed, cfg.train_subset)


__all__ = [
    "DATASETS", "SPLIT_NAMES", "Batch", "ImageDataset", "Normalizer", "Splits", "TensorLoader", "ViewTable",
    "crop_flip", "load_dataset", "make_splits", "make_views", "prepare_data", "render_view",
]
