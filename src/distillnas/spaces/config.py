"""The `space` section of a search config: a discriminated union of every space's own section."""
from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from .addon import AddonConfig
from .mnasnet import MnasNetConfig
from .resnet_depth import ResNetDepthConfig

# The `space` section of a search config: one variant per space, chosen by `name`.
SpaceConfig = Annotated[Union[MnasNetConfig, ResNetDepthConfig, AddonConfig], Field(discriminator="name")]
