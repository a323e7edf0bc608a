"""The package's shape, checked from its source: no import cycles, imports at the top of
modules (optional heavy dependencies and the command line's lazy commands excepted), no implementation in `__init__.py`, and a
search loop that names no concrete space, strategy, evaluator or executor."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "distillnas"
PACKAGE = "distillnas"
# Imported inside functions on purpose: optional extras or slow to import, needed by few paths.
LAZY_OK = {"ray", "optuna", "optuna_dashboard", "onnx", "onnxruntime", "mlxtend", "pandas", "sklearn", "PIL"}
# The command line imports the library inside each command, so `distillnas --help` and `distillnas
# list` load no torch (under 1 s); io.py reads and writes tensors in two functions only.
LAZY_MODULES = {"distillnas.io": {"torch"}}
LAZY_PACKAGES = ("distillnas.cli.",)
# The top level's PEP 562 hooks: its public names are imported on first use.
INIT_HOOKS = {"distillnas": {"__getattr__", "__dir__"}}


def module_name(path: Path) -> str:
    parts = (PACKAGE, *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def resolve(mod: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = mod.split(".") if MODULES[mod].name == "__init__.py" else mod.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def top_level_imports(mod: str) -> set[str]:
    """Modules of the package that `mod` imports when it is executed (not inside functions)."""
    tree = ast.parse(MODULES[mod].read_text())
    found: set[str] = set()
    for node in tree.body:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(mod, node)
            names = [target] + [f"{target}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # a.b.c imports a, a.b and a.b.c
                if ".".join(parts[:i]) in MODULES:
                    found.add(".".join(parts[:i]))
    own_packages = {".".join(mod.split(".")[:i]) for i in range(1, mod.count(".") + 1)}
    return found - own_packages - {mod}  # a package being initialised is no cycle for its own modules


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (cycle := visit(n)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def test_no_import_cycles():
    graph = {m: top_level_imports(m) for m in MODULES}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_check_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_imports_sit_at_the_top_of_modules():
    lazy = []
    for mod, path in MODULES.items():
        if mod.startswith(LAZY_PACKAGES):
            continue
        ok = LAZY_OK | LAZY_MODULES.get(mod, set())
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for n in ast.walk(fn):
                    if isinstance(n, ast.Import):
                        lazy += [f"{mod}:{n.lineno} {a.name}" for a in n.names if a.name.split(".")[0] not in ok]
                    elif isinstance(n, ast.ImportFrom) and (n.level or (n.module or "").split(".")[0] not in ok):
                        lazy.append(f"{mod}:{n.lineno} {'.' * n.level}{n.module or ''}")
    assert not lazy, lazy


def test_init_modules_hold_no_implementation():
    for mod, path in MODULES.items():
        if path.name == "__init__.py":
            defs = [n.name for n in ast.parse(path.read_text()).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                    and n.name not in INIT_HOOKS.get(mod, set())]
            assert not defs, f"{mod} defines {defs}: move them to a module of their own"


@pytest.mark.parametrize("registry_module, registry", [
    ("distillnas.spaces", "SPACES"), ("distillnas.strategies", "STRATEGIES"),
    ("distillnas.evaluators", "EVALUATORS"), ("distillnas.execution", "EXECUTORS")])
def test_the_search_loop_names_no_concrete_component(registry_module, registry):
    import importlib

    names = importlib.import_module(registry_module).__dict__[registry].names()
    classes = [n for n in vars(importlib.import_module(registry_module)) if n[:1].isupper() and n != registry]
    strings, identifiers = code_tokens(ROOT / "search.py")
    named = [n for n in names if n in strings]
    named += [c for c in classes if c in identifiers and c not in
              ("Strategy", "SearchSpace", "Evaluator", "EvalContext", "Executor", "TrialResult", "Arch")]
    assert not named, f"search.py names {named}"


def code_tokens(path: Path) -> tuple[set[str], set[str]]:
    """The string constants (docstrings left out) and the identifiers of a module's code, read
    with `ast`: what the code names, not what its comments and docstrings say."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstrings.add(id(first.value))
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
               and id(n) not in docstrings}
    identifiers = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    identifiers |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    identifiers |= {a.name.split(".")[-1] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                    for a in n.names}
    return strings, identifiers


def test_the_layout_check_reads_code_not_docstrings(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text('"""Uses the \'ray\' executor."""\n\n\ndef f(e):\n    """PPOStrategy."""\n'
                      '    return e == "ray" and PPOStrategy  # "grid"\n')
    strings, identifiers = code_tokens(sample)
    assert "ray" in strings and "grid" not in strings and "Uses the 'ray' executor." not in strings
    assert "PPOStrategy" in identifiers


def test_training_knows_no_search_space():
    """Training takes `models.Student`s (a label, a factory, the space a checkpoint records);
    turning a space's arch string into one is the spaces' job (issue 43: one typed path)."""
    for mod in MODULES:
        if mod.startswith("distillnas.training"):
            assert not {m for m in top_level_imports(mod) if m.startswith("distillnas.spaces")}, mod


def closure(mod: str) -> set[str]:
    """Every module of the package that importing `mod` executes (its imports' imports, and
    each parent package's `__init__`)."""
    seen: set[str] = set()
    todo = [mod]
    while todo:
        m = todo.pop()
        if m in seen or m not in MODULES:
            continue
        seen.add(m)
        parents = [".".join(m.split(".")[:i]) for i in range(1, m.count(".") + 1)]
        todo.extend([*top_level_imports(m), *parents])
    return seen


@pytest.mark.parametrize("reader", ["distillnas.analysis", "distillnas.dashboard", "distillnas.config"])
def test_reading_a_run_imports_no_training_or_evaluation_code(reader):
    """Config sections live in torch-free modules (recipe, evalconfig), so the report, the
    dashboard and a config read no training loop and no evaluator (issue 43: light imports)."""
    heavy = {m for m in closure(reader) if m.startswith(("distillnas.training", "distillnas.evaluators"))}
    assert not heavy, heavy


def test_config_sections_import_no_torch():
    for mod in ("distillnas.recipe", "distillnas.evalconfig", "distillnas.section"):
        tree = ast.parse(MODULES[mod].read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and not n.level}
        assert not {n for n in names if n.split(".")[0] == "torch"}, mod
        assert closure(mod) <= {"distillnas", "distillnas.recipe", "distillnas.section", "distillnas.errors",
                                "distillnas.evalconfig"}, closure(mod)
