"""Shared helpers for the hand-run benchmarks: strategies by name (with ablations), a table
printer and a JSON writer."""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from distillnas.spaces import SearchSpace
from distillnas.strategies import Strategy, build_strategy, strategy_config

RESULTS = Path(__file__).resolve().parent / "results"

# Ablations: a strategy with one setting changed (ordered decisions treated as categorical;
# TPE's batch spread by a constant liar; TPE's repeats kept, not moved to a neighbour; GP told the rewards are exact;
# the controllers sampling their policy as it is, told archs included; evolution's old population;
# PPO without its elite term, at its old learning rate, without the KL stop, bound or init, or
# moving a repeat to a neighbour; REINFORCE with ENAS's bound, without the elite term, or
# moving a repeat to a neighbour), named
# so a benchmark can list them beside the defaults.
VARIANTS = {"evolution_any_move": ("evolution", {"evolution": {"ordinal": False}}),
            "tpe_categorical": ("tpe", {"tpe": {"ordinal": False}}),
            "tpe_liar": ("tpe", {"tpe": {"constant_liar": True}}),
            "tpe_keep_repeats": ("tpe", {"tpe": {"repeat": "keep"}}),
            "gp_exact": ("gp", {"gp": {"deterministic": True}}),
            "evolution_p20": ("evolution", {"evolution": {"population": 20}}),
            "reinforce_not_fresh": ("reinforce", {"reinforce": {"fresh": False}}),
            "ppo_not_fresh": ("ppo", {"ppo": {"fresh": False}}),
            "ppo_no_elite": ("ppo", {"ppo": {"elite": 0}}),
            "ppo_lr005": ("ppo", {"ppo": {"lr": 0.05}}),
            "ppo_neighbour": ("ppo", {"ppo": {"repeat": "neighbour"}}),
            "ppo_old": ("ppo", {"ppo": {"target_kl": None, "tanh_constant": None, "init_range": 0.0}}),
            "ppo_no_kl_stop": ("ppo", {"ppo": {"target_kl": None}}),
            "ppo_backtrack": ("ppo", {"ppo": {"backtrack": True}}),
            "ppo_backtrack_kl0.2": ("ppo", {"ppo": {"backtrack": True, "target_kl": 0.2}}),
            "ppo_bound3": ("ppo", {"ppo": {"tanh_constant": 3.0}}),
            "reinforce_neighbour": ("reinforce", {"reinforce": {"repeat": "neighbour"}}),
            "reinforce_enas_bound": ("reinforce", {"reinforce": {"tanh_constant": 1.5}}),
            "reinforce_no_elite": ("reinforce", {"reinforce": {"elite": 0}}),
            "reinforce_old": ("reinforce", {"reinforce": {"tanh_constant": 1.5, "elite": 0}}),
            "nsga2_categorical": ("nsga2", {"nsga2": {"ordinal": False}})}


def make_strategy(name: str, seed: int, space: SearchSpace, target: float = 1.0) -> Strategy:
    """A strategy or an ablation (VARIANTS) by name, built for the space as the search loop builds it."""
    base, settings = VARIANTS.get(name, (name, {}))
    return build_strategy(strategy_config(base, seed=seed, **settings), space.sizes, space.kinds, target,
                          space.sources, space.ordered)


def machine() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(), "when": time.strftime("%Y-%m-%d %H:%M:%S")}


def report(name: str, rows: list[dict], extra: dict | None = None) -> Path:
    """Print rows as an aligned table and write them (plus the machine) to results/NAME.json."""
    cols = list(rows[0])
    width = {c: max(len(c), *(len(_fmt(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(width[c]) for c in cols))
    for r in rows:
        print("  ".join(_fmt(r[c]).ljust(width[c]) for c in cols))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), "rows": rows, **(extra or {})}, indent=2))
    print(f"-> {path}")
    return path


def teachers(data, arch: str, seeds: int, epochs: float, out: Path, route: int = 0) -> list[str]:  # noqa: ANN001
    """A seeded CE-trained teacher ensemble in `out` (trained once, reused after), as member paths."""
    from distillnas.config import TrainConfig, validate
    from distillnas.training import train_teachers

    if not (out / "ensemble.json").is_file():
        cfg = validate(TrainConfig, {"optim": {"epochs": epochs}, "loss": {"name": "ce"}, "augment": "random"})
        runs, rep = train_teachers(arch, list(range(seeds)), data, cfg, out, route=route)
        print(f"teachers: {[round(100 * r.metrics['test'], 2) for r in runs]}, ensemble {rep.as_dict()}", flush=True)
    return sorted(str(x) for x in out.glob("*.pt"))


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def share_teacher_cache(folder: Path, shared: Path) -> None:
    """Point FOLDER/teacher_cache at SHARED, so runs of one teacher, data and views (the same cache
    entries, keyed by all three) fill it once instead of once per run (~10 minutes each on full
    Fashion-MNIST). An entry's lock keeps two processes from filling it at once."""
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "teacher_cache"
    if link != shared and not link.exists() and not link.is_symlink():
        shared.mkdir(parents=True, exist_ok=True)
        try:
            link.symlink_to(shared.resolve(), target_is_directory=True)
        except FileExistsError:  # two runs started together: the other made it
            if link.resolve() != shared.resolve():
                raise
