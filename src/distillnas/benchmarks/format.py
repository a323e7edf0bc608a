"""The benchmark table file: one architecture per line, `key accuracy [more columns]`.

    # distillnas benchmark table
    # space: {"name": "mnasnet", "preset": "tiny", "blocks": 7, "restrict": {...}}
    # dataset: digits
    # input: 1x8x8
    # classes: 10
    # teacher: kd from runs/teachers (3 members)
    # columns: accuracy acc_seed0 acc_seed1 params macs latency_ms
    mb6_k3_se0_id_w1_d0|...  91.23 90.10 92.36 12345 67890 0.52

Accuracies are in percent. Header lines are `# name: value` (JSON where it parses); a file
without a header is DisWOT's two-column `code accuracy` format (CIFAR-100, 3x32x32). The key
is the space's `table_key` of the arch: its canonical string (resnet_depth: DisWOT's code).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DistillnasError
from ..io import atomic_write_text
from .tables import table_path

MAGIC = "# distillnas benchmark table"


@dataclass
class BenchmarkTable:
    """A tabular benchmark: its header (protocol, teacher, commit) and one row of columns per arch."""
    meta: dict[str, Any]  # header entries (empty for a DisWOT file)
    columns: list[str]  # after the key; the first is the mean accuracy
    rows: dict[str, list[float]] = field(default_factory=dict)  # key -> values (accuracies in %)

    def column(self, name: str) -> dict[str, float]:
        """One column's values by arch key (e.g. a seed's accuracies)."""
        i = self.columns.index(name)
        return {k: v[i] for k, v in self.rows.items()}

    @property
    def accuracy(self) -> dict[str, float]:
        """key -> mean top-1 in [0, 1]."""
        return {k: v / 100.0 for k, v in self.column(self.columns[0]).items()}

    @property
    def seed_columns(self) -> list[str]:
        """The per-seed accuracy columns (acc_seed0, ...), in order."""
        return [c for c in self.columns if c.startswith("acc_seed")]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) the table's archs were built for (DisWOT: CIFAR's 3x32x32)."""
        c, h, w = (int(x) for x in str(self.meta.get("input", "3x32x32")).split("x"))
        return c, h, w

    @property
    def num_classes(self) -> int:
        return int(self.meta.get("classes", 100))


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def read_benchmark(path: str | Path) -> BenchmarkTable:
    """A table by file path or packaged name (distillnas.benchmarks, e.g. diswot_s1_kd)."""
    file = table_path(str(path))
    try:
        lines = file.read_text().splitlines()
    except (FileNotFoundError, IsADirectoryError):
        raise DistillnasError(f"benchmark table {str(path)!r} does not exist") from None
    except UnicodeDecodeError as e:
        raise DistillnasError(f"benchmark table {str(path)!r} is not a text table (binary data at byte "
                              f"{e.start})") from None
    meta: dict[str, Any] = {}
    for line in lines:
        if line.startswith("#") and ":" in line and line != MAGIC:
            key, _, value = line[1:].partition(":")
            meta[key.strip()] = _value(value.strip())
    columns = str(meta.get("columns", "accuracy")).split()
    table = BenchmarkTable(meta, columns)
    first_line: dict[str, int] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        where = f"benchmark table {str(path)!r}, line {n}"
        try:
            if len(parts) != len(columns) + 1:
                raise ValueError
            values = [float(x) for x in parts[1:]]
        except ValueError:
            raise DistillnasError(f"{where}: expected 'key' and {len(columns)} numbers ({' '.join(columns)})") from None
        _check_row(where, columns, values)
        if parts[0] in first_line:
            raise DistillnasError(f"{where}: arch {parts[0][:200]} is already on line {first_line[parts[0]]}; a table "
                                  "holds each arch once")
        first_line[parts[0]] = n
        table.rows[parts[0]] = values
    if not table.rows:
        raise DistillnasError(f"benchmark table {str(path)!r} holds no rows")
    return table


def is_accuracy(column: str) -> bool:
    """Accuracy columns (in %): the mean and each seed's."""
    return column == "accuracy" or column.startswith("acc")


def _check_row(where: str, columns: list[str], values: list[float]) -> None:
    """Every value finite; accuracies in 0..100, costs (params, MACs, latency) not negative."""
    for column, v in zip(columns, values):
        if not math.isfinite(v):
            raise DistillnasError(f"{where}: {column} is {v}; every value must be a finite number")
        if is_accuracy(column) and not 0 <= v <= 100:
            raise DistillnasError(f"{where}: {column} {v:g} is not a percentage in 0..100")
        if not is_accuracy(column) and v < 0:
            raise DistillnasError(f"{where}: {column} {v:g} is negative")


def write_benchmark(path: str | Path, table: BenchmarkTable) -> Path:
    """Atomically; keys must be free of whitespace (canonical arch strings are), values are
    checked as `read_benchmark` checks them, so a table written is a table that reads."""
    for key, values in table.rows.items():
        _check_row(f"benchmark table {str(path)!r}, arch {key[:200]}", table.columns, values)
    head = [MAGIC] + [f"# {k}: {v if isinstance(v, str) else json.dumps(v)}" for k, v in table.meta.items()
                      if k != "columns"]
    head.append(f"# columns: {' '.join(table.columns)}")
    body = [f"{k} " + " ".join(_fmt(x) for x in v) for k, v in table.rows.items()]
    return atomic_write_text(path, "\n".join(head + body) + "\n")


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) >= 1000 else f"{x:.4f}"
