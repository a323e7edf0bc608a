"""distillnas: find the student architecture that distills best from your teacher, then train it.

The public API is small and imported lazily (the heavy parts - torch, the models - load on first
use, so `import distillnas` is instant):

- `load_search_config(name_or_path, overrides)` and `run_search(config)`: a search (AKD, KDAS);
- `train(arch, TrainConfig(...), DataConfig(...), teacher=[...])`: train a student over seeds;
- `evaluate_checkpoint(path)`: test accuracy, params, MACs and latency of a checkpoint;
- `load_student(path)`: the model and metadata of a checkpoint;
- `export_student(path, "onnx")`: ONNX or TorchScript;
- `list_names(kind)`: what can be chosen by name (spaces, strategies, losses, datasets, ...).

Everything else is importable from its module and private by convention.
"""
from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any

try:
    __version__ = metadata.version("distillnas")
except metadata.PackageNotFoundError:  # a source tree on PYTHONPATH, not installed
    __version__ = "0.0.0+unknown"

_API = {
    "load_search_config": "distillnas.runconfig",
    "run_search": "distillnas.search",
    "train": "distillnas.trainer",
    "TrainConfig": "distillnas.recipe",
    "DataConfig": "distillnas.data.datasets",
    "evaluate_checkpoint": "distillnas.evaluate",
    "load_student": "distillnas.checkpoint",
    "export_student": "distillnas.export",
    "list_names": "distillnas.catalog",
    "DistillnasError": "distillnas.errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (PEP 562)."""
    if name not in _API:
        raise AttributeError(f"module 'distillnas' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
