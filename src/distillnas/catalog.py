"""What can be chosen by name, with one line each: `distillnas list` and `distillnas.list_names`.

Every kind is one registry (registry.py); the registry is imported only when its kind is asked
for, so listing configs or datasets does not load the models or the strategies."""
from __future__ import annotations

import importlib
from importlib import resources
from pathlib import Path

from .errors import DistillnasError, suggest
from .shipped import describe as describe_artifacts

# kind -> (module that fills the registry, the registry's name in it)
KINDS: dict[str, tuple[str, str]] = {
    "spaces": ("distillnas.spaces", "SPACES"),
    "strategies": ("distillnas.strategies", "STRATEGIES"),
    "evaluators": ("distillnas.evaluators", "EVALUATORS"),
    "losses": ("distillnas.distill", "LOSSES"),
    "schemes": ("distillnas.training.schemes", "SCHEMES"),
    "datasets": ("distillnas.data.datasets", "DATASETS"),
    "models": ("distillnas.models.families", "FAMILIES"),
    "scores": ("distillnas.zerocost", "SCORES"),
    "executors": ("distillnas.execution", "EXECUTORS"),
    "latency": ("distillnas.cost", "MEASURERS"),
    "configs": ("", ""),  # the packaged search configs, described by their first comment sentence
    "recipes": ("", ""),  # the packaged teacher recipes (teacher train --recipe), the same way
    "artifacts": ("", ""),  # shipped teachers and students, usable by name (shipped.py)
}


def list_names(kind: str) -> list[tuple[str, str]]:
    """Everything of one kind that is chosen by name, with one line each (timm's list_models).

    Args:
        kind: one of KINDS: spaces, strategies, evaluators, losses, schemes, datasets, models,
            scores, executors, latency, configs, recipes.

    Returns:
        (name, one-line description) pairs, sorted by name.

    Raises:
        DistillnasError: an unknown kind, naming the kinds.
    """
    if kind not in KINDS:
        raise DistillnasError(f"unknown kind {kind!r}{suggest(kind, KINDS)}; choose one of: {', '.join(KINDS)}")
    if kind == "configs":
        return _described(packaged_configs())
    if kind == "recipes":
        return _described(packaged_recipes())
    if kind == "artifacts":
        return describe_artifacts()
    module, attr = KINDS[kind]
    return getattr(importlib.import_module(module), attr).describe()


def packaged_configs() -> dict[str, Path]:
    """The search configs shipped with the package, by name (`--config NAME`)."""
    folder = resources.files("distillnas") / "configs"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def packaged_recipes() -> dict[str, Path]:
    """The teacher-training recipes shipped with the package (`teacher train --recipe NAME`)."""
    folder = resources.files("distillnas") / "configs" / "teachers"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def _described(files: dict[str, Path]) -> list[tuple[str, str]]:
    rows = []
    for name, path in sorted(files.items()):
        head = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                break
            head.append(line.lstrip("# ").strip())
        rows.append((name, " ".join(head).split(". ")[0].rstrip(".")))  # the header's first sentence
    return rows
