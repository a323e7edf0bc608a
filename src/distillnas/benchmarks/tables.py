"""Packaged tables by name: `<table>_<column>` (e.g. diswot_s1_kd) -> its file."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

def packaged_tables() -> dict[str, Path]:
    """{name: file} of every packaged table: `<folder>_<file stem>`, with DisWOT's
    `_accuracy` suffix dropped (diswot_s1/kd_accuracy.txt is `diswot_s1_kd`)."""
    root = Path(str(resources.files("distillnas") / "benchmarks"))
    return {f"{file.parent.name}_{file.stem.removesuffix('_accuracy')}": file
            for file in sorted(root.glob("*/*.txt"))}


def table_path(name_or_path: str) -> Path:
    """A packaged table's file for its name; anything else is taken as a path."""
    return packaged_tables().get(name_or_path, Path(name_or_path))
