"""Packaged tables by name: `<table>_<column>` (e.g. diswot_s1_kd) -> its file."""
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
