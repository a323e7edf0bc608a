"""Search spaces, chosen by name (`SPACES`); each module registers itself and defines its
own config section."""
from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from .addon import AddonConfig, AddonSpace
from .base import SPACES, Arch, Decision, SearchSpace, build_space
from .mnasnet import MnasNetConfig, MnasNetSpace
from .resnet_depth import ResNetDepthConfig, ResNetDepthSpace

# The `space` section of a search config: one variant per space, chosen by `name`.
SpaceConfig = Annotated[Union[MnasNetConfig, ResNetDepthConfig, AddonConfig], Field(discriminator="name")]


def space_from_config(cfg: MnasNetConfig | ResNetDepthConfig | AddonConfig) -> SearchSpace:
    return build_space(**cfg.model_dump())


__all__ = ["SPACES", "AddonConfig", "AddonSpace", "Arch", "Decision", "MnasNetConfig", "MnasNetSpace",
           "ResNetDepthConfig", "ResNetDepthSpace", "SearchSpace", "SpaceConfig", "build_space", "space_from_config"]
