"""Search spaces, chosen by name (`SPACES`); each module registers itself and defines its
own config section."""
from __future__ import annotations

from .addon import AddonConfig, AddonSpace
from .base import Arch, Decision, SearchSpace
from .config import SpaceConfig, space_config
from .mnasnet import MnasNetConfig, MnasNetSpace
from .registry import SPACES, SpaceSection, build_space, space_from_config, space_student, student_of
from .resnet_depth import ResNetDepthConfig, ResNetDepthSpace
from .restrict import RestrictedSpace

__all__ = ["SPACES", "AddonConfig", "AddonSpace", "Arch", "Decision", "MnasNetConfig", "MnasNetSpace",
           "ResNetDepthConfig", "ResNetDepthSpace", "RestrictedSpace", "SearchSpace", "SpaceSection", "SpaceConfig", "build_space", "space_config", "space_from_config", "space_student", "student_of"]
