"""Search strategies, chosen by name (`STRATEGIES`); each module registers itself and
defines its own config section."""
from __future__ import annotations

from .base import STRATEGIES, Arch, Strategy, StrategySection, build_strategy
from .config import StrategyConfig, strategy_config
from .evolution import EvolutionConfig, RegularizedEvolution
from .grid import GridConfig, GridSearch
from .optuna import GPConfig, GPStrategy, NSGA2Config, NSGA2Strategy, TPEConfig, TPEStrategy
from .ppo import PPOConfig, PPOStrategy
from .random import RandomConfig, RandomSearch
from .reinforce import ReinforceConfig, ReinforceStrategy

__all__ = ["STRATEGIES", "Arch", "EvolutionConfig", "GPConfig", "GPStrategy", "GridConfig", "GridSearch", "NSGA2Config", "NSGA2Strategy", "PPOConfig", "PPOStrategy",
           "RandomConfig", "RandomSearch", "RegularizedEvolution", "ReinforceConfig", "ReinforceStrategy", "Strategy",
           "StrategyConfig", "StrategySection", "TPEConfig", "TPEStrategy", "build_strategy", "strategy_config"]
