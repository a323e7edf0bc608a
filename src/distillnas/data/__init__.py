"""Datasets by name, splits and the in-memory loader."""
from __future__ import annotations

from .base import SPLIT_NAMES, ImageDataset, Splits, make_splits
from .datasets import DATASETS, DataConfig, load_dataset, prepare_data
from .loader import Batch, Normalizer, TensorLoader, ViewTable, crop_flip, make_views, render_view

__all__ = [
    "DATASETS", "SPLIT_NAMES", "Batch", "DataConfig", "ImageDataset", "Normalizer", "Splits", "TensorLoader",
    "ViewTable", "crop_flip", "load_dataset", "make_splits", "make_views", "prepare_data", "render_view",
]
