"""The `strategy` section of a search config: a discriminated union of every strategy's own section."""
from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from ..section import validate
from .base import StrategySection
from .evolution import EvolutionConfig
from .grid import GridConfig
from .optuna import GPConfig, NSGA2Config, TPEConfig
from .ppo import PPOConfig
from .random import RandomConfig
from .reinforce import ReinforceConfig

# The `strategy` section of a search config: one variant per strategy, chosen by `name`.
StrategyConfig = Annotated[Union[PPOConfig, ReinforceConfig, EvolutionConfig, TPEConfig, GPConfig, NSGA2Config,
                                 RandomConfig, GridConfig],
                           Field(discriminator="name")]



def strategy_config(name: str, **values: object) -> StrategySection:
    """A validated strategy section by name, e.g. strategy_config("ppo", seed=1, ppo={"lr": 0.01})."""
    return validate(StrategyConfig, {"name": name, **values})
