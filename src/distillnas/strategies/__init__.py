"""Search strategies by name; each is built from the space's sizes and kinds and a config."""
from __future__ import annotations

from typing import Sequence

from ..registry import Registry
from .base import Strategy, Tokens
from ..config import EvolutionConfig, PPOConfig, ReinforceConfig
from .ppo import PPOStrategy
from .reinforce import ReinforceStrategy
from .optuna import TPEStrategy
from .simple import RandomSearch, RegularizedEvolution

STRATEGIES: Registry = Registry("strategy")
STRATEGIES.register("ppo")(lambda sizes, kinds, seed, cfg: PPOStrategy(sizes, kinds, seed, cfg.ppo))
STRATEGIES.register("reinforce")(lambda sizes, kinds, seed, cfg: ReinforceStrategy(sizes, kinds, seed, cfg.reinforce))
STRATEGIES.register("random")(lambda sizes, kinds, seed, cfg: RandomSearch(sizes, kinds, seed))
STRATEGIES.register("evolution")(lambda sizes, kinds, seed, cfg: RegularizedEvolution(sizes, kinds, seed, cfg.evolution))
STRATEGIES.register("tpe")(lambda sizes, kinds, seed, cfg: TPEStrategy(sizes, kinds, seed, cfg.tpe.startup,
                                                                        cfg.tpe.candidates))


def build_strategy(cfg, sizes: Sequence[int], kinds: Sequence[str]) -> Strategy:  # noqa: ANN001 - StrategyConfig
    """The strategy named by cfg.name, with its own section of cfg (cfg.ppo, cfg.evolution, ...)."""
    return STRATEGIES.get(cfg.name)(list(sizes), list(kinds), cfg.seed, cfg)


__all__ = ["STRATEGIES", "EvolutionConfig", "PPOConfig", "PPOStrategy", "RandomSearch", "RegularizedEvolution",
           "ReinforceConfig", "ReinforceStrategy", "TPEStrategy",
           "Strategy", "Tokens", "build_strategy"]
