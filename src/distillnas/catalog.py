"""What can be chosen by name, with one line each: `distillnas list` and `distillnas.list_names`.

Every kind is one registry (registry.py), filled where its entries are defined. Listing reads
the `REGISTRY.register("name", "doc")` calls (or the docstring of what they decorate) from the
package's source with `ast`, without importing it - so `distillnas list` loads no torch and
answers in a fraction of a second. A test holds the listing equal to the live registries."""
from __future__ import annotations

import ast
from importlib import resources
from pathlib import Path

from .errors import DistillnasError, suggest
from .benchmarks.tables import describe_tables
from .shipped import describe as describe_artifacts

# kind -> (package whose modules fill the registry, the registry's name in that package)
KINDS: dict[str, tuple[str, str]] = {
    "spaces": ("distillnas.spaces", "SPACES"),
    "strategies": ("distillnas.strategies", "STRATEGIES"),
    "evaluators": ("distillnas.evaluators", "EVALUATORS"),
    "losses": ("distillnas.distill", "LOSSES"),
    "schemes": ("distillnas.training", "SCHEMES"),
    "datasets": ("distillnas.data", "DATASETS"),
    "models": ("distillnas.models", "FAMILIES"),
    "scores": ("distillnas.zerocost", "SCORES"),
    "executors": ("distillnas.execution", "EXECUTORS"),
    "latency": ("distillnas.cost", "MEASURERS"),
    "configs": ("", ""),  # the packaged search configs, described by their first comment sentence
    "recipes": ("", ""),  # the packaged teacher recipes (teacher train --recipe), the same way
    "artifacts": ("", ""),  # shipped teachers and students, usable by name (shipped.py)
    "tables": ("", ""),  # packaged benchmark tables (--evaluator.table=NAME), digests checked on use
}


def list_names(kind: str) -> list[tuple[str, str]]:
    """Everything of one kind that is chosen by name, with one line each (timm's list_models).

    Args:
        kind: one of KINDS: spaces, strategies, evaluators, losses, schemes, datasets, models,
            scores, executors, latency, configs, recipes, artifacts, tables.

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
    if kind == "tables":
        return describe_tables()
    package, registry = KINDS[kind]
    return _registered(package, registry)


def _registered(package: str, registry: str) -> list[tuple[str, str]]:
    """(name, doc) of every `registry.register(...)` call in the package's modules, read from source."""
    folder = Path(str(resources.files("distillnas"))).joinpath(*package.split(".")[1:])
    found: dict[str, str] = {}
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        decorated = {id(d): n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                     for d in n.decorator_list}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "register"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == registry
                    and node.args and isinstance(node.args[0], ast.Constant)):
                continue
            doc = node.args[1].value if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) else None
            if doc is None and id(node) in decorated:
                lines = (ast.get_docstring(decorated[id(node)]) or "").strip().splitlines()
                doc = lines[0].strip() if lines else ""
            found[node.args[0].value] = doc or ""
    return sorted(found.items())


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
