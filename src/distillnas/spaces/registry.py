"""Spaces by name (`SPACES`), the base of their config sections, and building one from config."""
from __future__ import annotations

from typing import Any

from ..models import Student, man_made
from ..registry import Registry
from ..section import Section
from .base import SearchSpace
from .restrict import RestrictedSpace


SPACES: Registry[type[SearchSpace]] = Registry("search space")


class SpaceSection(Section):
    """What every space's config holds: its name (the union's tag), its own settings, and an
    optional restriction to a subset of its options (spaces/restrict.py)."""

    name: str  # each variant narrows it to its Literal tag
    restrict: dict[str, list[Any]] = {}  # decision name or pattern (b*.se) -> option values kept


def build_space(name: str, restrict: dict[str, list[Any]] | None = None, **options: Any) -> SearchSpace:
    """A space by name with its own settings (those of its config section, or `space.config()`),
    restricted to a subset of its options when `restrict` is given."""
    space = SPACES.get(name)(**options)
    return RestrictedSpace(space, restrict) if restrict else space


def space_student(arch: str, space: dict, num_classes: int, in_channels: int, input_size: int) -> Student:
    """A student that is an arch string of the search space `space` (its config)."""
    sp = build_space(**space)
    tokens = sp.from_string(arch)
    return Student(sp.to_string(tokens), lambda: sp.build(tokens, num_classes, in_channels, input_size), space)


def student_of(arch: str, space: dict | None, num_classes: int, in_channels: int, input_size: int) -> Student:
    """A man-made arch (no space) or an arch string of `space`, as a `Student` to train."""
    if space is None:
        return man_made(arch, num_classes, in_channels, input_size)
    return space_student(arch, space, num_classes, in_channels, input_size)


def space_from_config(cfg: Section) -> SearchSpace:
    """The space a config section (any variant of `space`) describes."""
    return build_space(**cfg.model_dump())
