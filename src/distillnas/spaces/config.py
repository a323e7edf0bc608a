"""The `space` section of a search config: a discriminated union of every space's own section."""
from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from ..errors import DistillnasError
from ..section import validate
from .addon import AddonConfig
from .mnasnet import MnasNetConfig
from .registry import space_from_config
from .resnet_depth import ResNetDepthConfig

# The `space` section of a search config: one variant per space, chosen by `name`.
SpaceConfig = Annotated[Union[MnasNetConfig, ResNetDepthConfig, AddonConfig], Field(discriminator="name")]


def space_config(name: str | None, settings: dict | None = None) -> dict | None:
    """The config dict of space `name` with `settings` (--space.key=value), validated; None for
    no space (a man-made arch). `train` and `teacher rank` read `--space` and `--space.*` this way."""
    if name is None and not settings:
        return None
    if name is None:
        raise DistillnasError("--space.* settings need --space NAME (mnasnet | resnet_depth | addon)")
    return space_from_config(validate(SpaceConfig, {**(settings or {}), "name": name}, "space.")).config()
