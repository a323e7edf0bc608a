"""Search spaces, chosen by name (`SPACES`); each module registers itself and defines its
own config section."""
from __future__ import annotations

from .addon import AddonConfig, AddonSpace
from .base import SPACES, Arch, Decision, SearchSpace, build_space, space_from_config
from .config import SpaceConfig
from .mnasnet import MnasNetConfig, MnasNetSpace
from .resnet_depth import ResNetDepthConfig, ResNetDepthSpace

__all__ = ["SPACES", "AddonConfig", "AddonSpace", "Arch", "Decision", "MnasNetConfig", "MnasNetSpace",
           "ResNetDepthConfig", "ResNetDepthSpace", "SearchSpace", "SpaceConfig", "build_space", "space_from_config"]
