"""Search strategies by name; each is built from the space's sizes and kinds and a config."""
from __future__ import annotations

from typing import Sequence

from ..registry import Registry
from .base import Strategy, Tokens
from ..config import EvolutionConfig, PPOConfig, ReinforceConfig
from .ppo import PPOStrategy
from .reinforce import ReinforceStrategy
from .optuna import NSGA2Strategy, TPEStrategy
from .simple import RandomSearch, RegularizedEvolution

STRATEGIES: Registry = Registry("strategy")
# Each entry: (sizes, kinds, seed, StrategyConfig, target) -> Strategy; target is the
# reward's cost target (only nsga2 uses it, as its hard constraint).
STRATEGIES.register("ppo")(lambda sizes, kinds, seed, cfg, target: PPOStrategy(sizes, kinds, seed, cfg.ppo))
STRATEGIES.register("reinforce")(lambda sizes, kinds, seed, cfg, target: ReinforceStrategy(sizes, kinds, seed,
                                                                                           cfg.reinforce))
STRATEGIES.register("random")(lambda sizes, kinds, seed, cfg, target: RandomSearch(sizes, kinds, seed))
STRATEGIES.register("evolution")(lambda sizes, kinds, seed, cfg, target: RegularizedEvolution(sizes, kinds, seed,
                                                                                              cfg.evolution))
STRATEGIES.register("tpe")(lambda sizes, kinds, seed, cfg, target: TPEStrategy(sizes, kinds, seed, cfg.tpe.startup,
                                                                                cfg.tpe.candidates))
STRATEGIES.register("nsga2")(lambda sizes, kinds, seed, cfg, target: NSGA2Strategy(
    sizes, kinds, seed, target, cfg.nsga2.population, cfg.nsga2.mutation))


def build_strategy(cfg, sizes: Sequence[int], kinds: Sequence[str], target: float = 1.0) -> Strategy:  # noqa: ANN001
    """The strategy named by cfg.name (a StrategyConfig), with its own section of cfg
    (cfg.ppo, cfg.evolution, ...); `target` is the reward's cost target."""
    return STRATEGIES.get(cfg.name)(list(sizes), list(kinds), cfg.seed, cfg, target)


__all__ = ["STRATEGIES", "EvolutionConfig", "PPOConfig", "PPOStrategy", "RandomSearch", "RegularizedEvolution",
           "NSGA2Strategy", "ReinforceConfig", "ReinforceStrategy", "TPEStrategy",
           "Strategy", "Tokens", "build_strategy"]
