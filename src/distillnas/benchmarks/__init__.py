"""Tabular benchmarks shipped as package data, so `--config akd_diswot` works anywhere.

`diswot_s1`: measured CIFAR-100 CE and KD accuracies of 64 ResNet students, from the public
repository of DisWOT (Dong, Li, Wei, CVPR 2023); see diswot_s1/README.md for the source
and attribution. A benchmark is named `<table>_<column>` (e.g. `diswot_s1_kd`), and the
table evaluator takes that name wherever it takes a file path.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

_COLUMNS = {"kd": "kd_accuracy.txt", "ce": "ce_accuracy.txt"}


def packaged_tables() -> dict[str, Path]:
    """{name: file} of every packaged table column."""
    root = resources.files("distillnas") / "benchmarks"
    out = {}
    for folder in sorted(Path(str(root)).iterdir()):
        for col, fname in _COLUMNS.items():
            if (folder / fname).is_file():
                out[f"{folder.name}_{col}"] = folder / fname
    return out


def table_path(name_or_path: str) -> Path:
    """A packaged table's file for its name; anything else is taken as a path."""
    return packaged_tables().get(name_or_path, Path(name_or_path))
