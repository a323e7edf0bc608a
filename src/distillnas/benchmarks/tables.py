"""Packaged tables by name: `<table>_<column>` (e.g. diswot_s1_kd) -> its file.

Each table folder ships a `SHA256SUMS` (`<sha256>  <file>` per line, as sha256sum writes it);
a table used by name is checked against it first, so a missing or altered file is one clear
error, never a silently different benchmark (as shipped artifacts are, shipped.py). Torch-free:
`distillnas list tables` reads only the headers."""
from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from ..errors import DistillnasError

SUMS = "SHA256SUMS"


def tables_root() -> Path:
    """Where the packaged tables live inside the installed package."""
    return Path(str(resources.files("distillnas") / "benchmarks"))


def packaged_tables() -> dict[str, Path]:
    """{name: file} of every packaged table: `<folder>_<file stem>`, with DisWOT's
    `_accuracy` suffix dropped (diswot_s1/kd_accuracy.txt is `diswot_s1_kd`)."""
    return {f"{file.parent.name}_{file.stem.removesuffix('_accuracy')}": file
            for file in sorted(tables_root().glob("*/*.txt"))}


def table_path(name_or_path: str) -> Path:
    """A packaged table's file for its name (its digest checked); anything else is taken as a path."""
    file = packaged_tables().get(name_or_path)
    if file is None:
        expected = _expected_files().get(name_or_path)
        if expected is None:
            return Path(name_or_path)
        raise DistillnasError(f"packaged table {name_or_path!r}: its file {str(expected)!r} is missing; "
                              "reinstall distillnas")
    verify(name_or_path, file)
    return file


def _sums(folder: Path) -> dict[str, str]:
    """{file name: SHA-256} of a table folder's SHA256SUMS (empty when it has none)."""
    sums = folder / SUMS
    if not sums.is_file():
        return {}
    out = {}
    for line in sums.read_text().splitlines():
        digest, _, name = line.strip().partition("  ")
        if digest and name:
            out[name.lstrip("*")] = digest
    return out


def _expected_files() -> dict[str, Path]:
    """{name: file} of every table a SHA256SUMS lists, whether or not the file is there."""
    out = {}
    for sums in sorted(tables_root().glob(f"*/{SUMS}")):
        for file in _sums(sums.parent):
            path = sums.parent / file
            out[f"{path.parent.name}_{path.stem.removesuffix('_accuracy')}"] = path
    return out


def verify(name: str, file: Path) -> None:
    """Refuse a packaged table whose bytes differ from its folder's SHA256SUMS (or that it omits)."""
    digest = _sums(file.parent).get(file.name)
    if digest is None:
        raise DistillnasError(f"packaged table {name!r}: {str(file)!r} has no digest in its folder's {SUMS}; "
                              "reinstall distillnas")
    actual = hashlib.sha256(file.read_bytes()).hexdigest()
    if actual != digest:
        raise DistillnasError(f"packaged table {name!r}: {str(file)!r} was altered (SHA-256 {actual[:12]}…, "
                              f"{SUMS} says {digest[:12]}…); reinstall distillnas")


def describe_tables() -> list[tuple[str, str]]:
    """(name, one line) per packaged table: archs, data, how it was trained, seeds, source."""
    rows = []
    for name, file in packaged_tables().items():
        meta, archs = {}, 0
        for line in file.read_text().splitlines():
            if line.startswith("#"):
                key, sep, value = line[1:].partition(":")
                if sep:
                    meta[key.strip()] = value.strip()
            elif line.strip():
                archs += 1
        seeds = sum(c.startswith("acc_seed") for c in meta.get("columns", "").split())
        teacher = meta.get("teacher", "")
        if "dataset" not in meta:  # a table from elsewhere, as released: its README's title says what it is
            rows.append((name, f"{archs:,} archs; the {name.rsplit('_', 1)[-1]} column of {_title(file.parent)}"))
            continue
        how = "CE, no teacher" if teacher.startswith("none") else f"KD from {teacher.split(';')[0]}"
        rows.append((name, f"{archs:,} archs, {meta['dataset']}, {how}" + (f", {seeds} seed{'s' if seeds > 1 else ''} each" if seeds else "")
                     + f" (about it: {file.parent.name}/README.md)"))
    return rows


def _title(folder: Path) -> str:
    """The first heading of a table folder's README.md (its folder name without one)."""
    readme = folder / "README.md"
    lines = readme.read_text().splitlines() if readme.is_file() else []
    return next((line.lstrip("# ").strip() for line in lines if line.startswith("#")), folder.name)
