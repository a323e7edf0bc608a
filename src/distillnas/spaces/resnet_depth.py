"""CIFAR ResNets with the number of basic blocks of each stage chosen from a list.

With the default {1, 3, 5, 7} this is the 64-student space of the DisWOT s1 benchmark.
String: ``resnet-5-5-7`` (the model grammar of distillnas.models).
"""
from __future__ import annotations

from typing import Literal

import torch.nn as nn
from pydantic import Field

from ..errors import DistillnasError
from ..models import CifarResNet
from .base import Arch, Decision, SearchSpace
from .registry import SPACES, SpaceSection


class ResNetDepthConfig(SpaceSection):
    """DisWOT's s1 space: CIFAR ResNets with each stage's depth chosen from `depths`."""
    name: Literal["resnet_depth"] = "resnet_depth"
    depths: list[int] = Field([1, 3, 5, 7], min_length=1, max_length=16)  # blocks-per-stage choices
    # channel multiplier of every stage (1.0: 16-32-64 channels; 0.5 halves them, about 4x
    # fewer MACs, e.g. for a Fashion-MNIST table on two cores)
    width: float = Field(1.0, ge=0.125, le=4.0)


@SPACES.register("resnet_depth", "DisWOT's s1 space: resnet-a-b-c, per-stage depths")
class ResNetDepthSpace(SearchSpace):
    """CIFAR ResNets whose stages' block counts are searched (DisWOT's s1 space)."""
    name = "resnet_depth"

    def __init__(self, depths: list[int] | tuple[int, ...] = (1, 3, 5, 7), stages: int = 3, width: float = 1.0) -> None:
        if not depths or any(int(d) < 1 for d in depths) or len(set(depths)) != len(depths):
            raise DistillnasError(f"resnet_depth choices must be distinct integers >= 1, got {list(depths)}")
        self.choices = tuple(int(d) for d in depths)
        self.stages, self.width = stages, width
        ordered = list(self.choices) == sorted(self.choices)  # as a user listed them: tokens keep that order
        self.decisions = [Decision(f"stage{i}.depth", "depth", self.choices, ordered=ordered) for i in range(stages)]

    def config(self) -> dict:
        return {"name": self.name, "depths": list(self.choices), "stages": self.stages, "width": self.width}

    def depths(self, arch: Arch) -> list[int]:
        """The blocks-per-stage choices."""
        return list(self.values(arch).values())

    def table_key(self, arch: Arch) -> str:
        return self.code(arch)

    def code(self, arch: Arch) -> str:
        """DisWOT's code: the stage depths written together, e.g. '557'."""
        return "".join(str(d) for d in self.depths(arch))

    def to_string(self, arch: Arch) -> str:
        return "resnet-" + "-".join(str(d) for d in self.depths(arch))

    def from_string(self, text: str) -> Arch:
        parts = text.strip().split("-")
        if parts[0] != "resnet" or len(parts) != self.stages + 1:
            raise DistillnasError(f"malformed resnet_depth arch {text!r}; write resnet-" + "-".join(["D"] * self.stages))
        try:
            values = [int(p) for p in parts[1:]]
        except ValueError:
            raise DistillnasError(f"malformed resnet_depth arch {text!r}: depths must be integers") from None
        return tuple(self.token_of(d, v, text) for d, v in zip(self.decisions, values))

    def build(self, arch: Arch, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        return CifarResNet(self.depths(arch), num_classes, in_channels, self.width)
