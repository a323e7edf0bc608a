"""A finished (or running) search read from its directory: config, trials, finals, best.

Reads the store and YAML files only; no training code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import SearchConfig
from ..errors import DistillnasError
from ..reward import trial_reward
from ..rundir import RunDir
from ..spaces import SearchSpace, space_from_config


@dataclass
class RunData:
    """A search run as the report reads it: config, space, every trial, retrainings, best archs."""
    path: Path
    config: SearchConfig
    space: SearchSpace
    trials: list[dict[str, Any]]  # every stored trial, in order
    finals: list[dict[str, Any]]  # retrainings (train --from-run)
    best: dict[str, Any]
    batch_stats: dict[int, dict[str, float]] = field(default_factory=dict)  # the strategy's, per batch

    @property
    def name(self) -> str:
        """The run directory's name (the report's label for it)."""
        return self.path.name

    @property
    def ok(self) -> list[dict[str, Any]]:
        """The trials that finished successfully (failed and screened ones left out)."""
        return [t for t in self.trials if t["status"] == "ok"]

    @property
    def guided_by(self) -> str:
        """The loss that guided the search: ce (conventional NAS) or kd/od (distillation-aware)."""
        spec, key = self.config.evaluator.loss_spec()
        return spec if key else self.config.evaluator.name  # an evaluator that trains nothing (table): its name

    def rewards(self) -> np.ndarray:
        """The reward of each successful trial, as the strategy was told it."""
        return np.array([trial_reward(t, self.config.reward) for t in self.ok])

    def one_hot(self, trials: list[dict[str, Any]] | None = None) -> np.ndarray:
        return np.stack([self.space.one_hot(tuple(t["tokens"])) for t in (trials or self.ok)])


def load_run(path: str | Path) -> RunData:
    """A run's config, trials, finals and best archs, read without writing anything."""
    run = RunDir(path)
    run.check_is_run()
    cfg = run.load_config()
    store = run.store(readonly=True)
    trials, finals, stats = store.trials(), store.finals(), store.batch_stats()
    store.close()
    if not any(t["status"] == "ok" for t in trials):
        raise DistillnasError(f"run {str(run)!r} has no finished trials yet; run or resume its search first")
    return RunData(run.path, cfg, space_from_config(cfg.space), trials, finals, run.read_best(), stats)


def check_same_space(runs: list[RunData]) -> None:
    """Refuse to compare runs over different search spaces (their archs do not line up)."""
    spaces = {r.name: r.space.config() for r in runs}
    if len({repr(c) for c in spaces.values()}) > 1:
        shown = "; ".join(f"{n}: {c}" for n, c in spaces.items())
        raise DistillnasError(f"runs over different search spaces cannot be compared side by side ({shown})")
