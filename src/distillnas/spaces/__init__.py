"""Search spaces by name."""
from __future__ import annotations

from ..registry import Registry
from .addon import AddonSpace
from .base import Arch, Decision, SearchSpace
from .mnasnet import MnasNetSpace
from .resnet_depth import ResNetDepthSpace

SPACES: Registry = Registry("search space")
SPACES.register("mnasnet")(MnasNetSpace)
SPACES.register("resnet_depth")(ResNetDepthSpace)
SPACES.register("addon")(AddonSpace)


def build_space(name: str, **options) -> SearchSpace:  # noqa: ANN003 - each space's own settings
    return SPACES.get(name)(**options)


__all__ = ["SPACES", "AddonSpace", "Arch", "Decision", "MnasNetSpace", "ResNetDepthSpace", "SearchSpace", "build_space"]
