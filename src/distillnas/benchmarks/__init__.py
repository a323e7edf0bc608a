"""Tabular benchmarks shipped as package data, so `--config akd_diswot` works anywhere.

`diswot_s1`: measured CIFAR-100 CE and KD accuracies of 64 ResNet students, from the public
repository of DisWOT (Dong, Li, Wei, CVPR 2023); see diswot_s1/README.md for the source
and attribution. A benchmark is named `<table>_<column>` (e.g. `diswot_s1_kd`), and the
table evaluator takes that name wherever it takes a file path.
"""
from .format import BenchmarkTable, read_benchmark, write_benchmark
from .tables import packaged_tables, table_path

__all__ = ["BenchmarkTable", "packaged_tables", "read_benchmark", "table_path", "write_benchmark"]
