"""Search strategies, chosen by name (`STRATEGIES`); each module registers itself and
defines its own config section."""
from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from ..section import validate
from .base import STRATEGIES, Arch, Strategy, StrategySection, build_strategy
from .evolution import EvolutionConfig, RegularizedEvolution
from .optuna import NSGA2Config, NSGA2Strategy, TPEConfig, TPEStrategy
from .ppo import PPOConfig, PPOStrategy
from .random import RandomConfig, RandomSearch
from .reinforce import ReinforceConfig, ReinforceStrategy

# The `strategy` section of a search config: one variant per strategy, chosen by `name`.
StrategyConfig = Annotated[Union[PPOConfig, ReinforceConfig, EvolutionConfig, TPEConfig, NSGA2Config, RandomConfig],
                           Field(discriminator="name")]



def strategy_config(name: str, **values: object) -> StrategySection:
    """A validated strategy section by name, e.g. strategy_config("ppo", seed=1, ppo={"lr": 0.01})."""
    return validate(StrategyConfig, {"name": name, **values})


__all__ = ["STRATEGIES", "Arch", "EvolutionConfig", "NSGA2Config", "NSGA2Strategy", "PPOConfig", "PPOStrategy",
           "RandomConfig", "RandomSearch", "RegularizedEvolution", "ReinforceConfig", "ReinforceStrategy", "Strategy",
           "StrategyConfig", "StrategySection", "TPEConfig", "TPEStrategy", "build_strategy", "strategy_config"]
