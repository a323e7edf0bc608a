"""A finished (or running) search read from its directory: config, trials, finals, best.

Reads the store and YAML files only; no training code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ..config import SearchConfig, validate
from ..errors import DistillnasError
from ..io import read_yaml_file
from ..reward import trial_reward
from ..spaces import SearchSpace, build_space
from ..store import TrialStore


@dataclass
class RunData:
    path: Path
    config: SearchConfig
    space: SearchSpace
    trials: list[dict[str, Any]]  # every stored trial, in order
    finals: list[dict[str, Any]]  # retrainings (train --from-run)
    best: dict[str, Any]
    batch_stats: dict[int, dict[str, float]] = field(default_factory=dict)  # the strategy's, per batch

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def ok(self) -> list[dict[str, Any]]:
        return [t for t in self.trials if t["status"] == "ok"]

    @property
    def guided_by(self) -> str:
        """The loss that guided the search: ce (conventional NAS) or kd/od (distillation-aware)."""
        ev = self.config.evaluator
        return {"proxy": ev.proxy.loss.name, "supernet": ev.supernet.loss.name}.get(ev.name, ev.name)

    def rewards(self) -> np.ndarray:
        return np.array([trial_reward(t, self.config.reward) for t in self.ok])

    def one_hot(self, trials: list[dict[str, Any]] | None = None) -> np.ndarray:
        return np.stack([self.space.one_hot(tuple(t["tokens"])) for t in (trials or self.ok)])


def load_run(path: str | Path) -> RunData:
    path = Path(path)
    if not (path / "config.yaml").is_file() or not (path / "trials.sqlite").is_file():
        raise DistillnasError(f"{str(path)!r} is not a run directory (it needs config.yaml and trials.sqlite)")
    cfg = validate(SearchConfig, read_yaml_file(path / "config.yaml", "saved config"))
    store = TrialStore(path / "trials.sqlite", readonly=True)
    trials, finals, stats = store.trials(), store.finals(), store.batch_stats()
    store.close()
    if not any(t["status"] == "ok" for t in trials):
        raise DistillnasError(f"run {str(path)!r} has no finished trials yet; run or resume its search first")
    best_path = path / "best.yaml"
    best = read_yaml_file(best_path, "best archs") if best_path.is_file() else {}
    return RunData(path, cfg, build_space(cfg.space.name, **cfg.space.options()), trials, finals, best or {}, stats)


def check_same_space(runs: list[RunData]) -> None:
    spaces = {r.name: r.space.config() for r in runs}
    if len({repr(c) for c in spaces.values()}) > 1:
        shown = "; ".join(f"{n}: {c}" for n, c in spaces.items())
        raise DistillnasError(f"runs over different search spaces cannot be compared side by side ({shown})")
