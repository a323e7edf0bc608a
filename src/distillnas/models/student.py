"""A student to train: its arch label, how to build it, and what its checkpoint records.

Training takes a `Student` and never parses arch strings itself, so it needs neither the
model families' grammar nor the search spaces: `man_made` makes one from a family name
(resnet20, mobilenetv2-w0.5) and `spaces.space_student` from a search space's arch string.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch.nn as nn

from .families import build_model, canonical_arch


@dataclass(frozen=True)
class Student:
    """`arch`: the canonical arch string (a checkpoint's name and record); `build()`: a fresh,
    initialised model (called again for every peer of a cohort); `space`: the search space's
    config when `arch` is one of its strings, recorded so `load_student` can rebuild it."""

    arch: str
    build: Callable[[], nn.Module]
    space: dict | None = None


def man_made(arch: str, num_classes: int, in_channels: int, input_size: int) -> Student:
    """A student of a man-made family, by name (a bad name is one clear error, here)."""
    arch = canonical_arch(arch)
    build_model(arch, num_classes, in_channels, input_size)  # checked now, not at the first training
    return Student(arch, lambda: build_model(arch, num_classes, in_channels, input_size))
