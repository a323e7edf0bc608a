"""CIFAR-style ResNets with any per-stage depths, and wide ResNets (WRN-d-k)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from .blocks import Classifier, ConvBNAct, Head


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual; a 1x1 projection when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(cin, cout, 3, stride)
        self.conv2 = ConvBNAct(cout, cout, 3, act=False)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else ConvBNAct(cin, cout, 1, stride, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


def make_stage(cin: int, cout: int, depth: int, stride: int) -> nn.Sequential:
    """A stage of `depth` basic residual blocks, the first with `stride` (and the channel change)."""
    return nn.Sequential(*[BasicBlock(cin if i == 0 else cout, cout, stride if i == 0 else 1) for i in range(depth)])


class StagedNet(Classifier):
    """stem -> stages -> final -> global pool; `stages` stays a ModuleList so add-on
    operations (KDAS) can be inserted between stages."""

    stem: nn.Module
    stages: nn.ModuleList
    final: nn.Module
    widths: list[int]
    strides: list[int]  # each stage's downsampling (KDAS's cross-stage skips pool by their product)

    def _finish(self, cin: int, num_classes: int) -> None:
        self.head = Head()
        self.num_features = cin
        self.classifier = nn.Linear(cin, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled embedding before the classifier (what feature losses read)."""
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.head(self.final(x))


class CifarResNet(StagedNet):
    """ResNet for small images: 3x3 stem, three stages (16/32/64 x width), global pool, fc."""

    def __init__(self, depths: Sequence[int] = (3, 3, 3), num_classes: int = 10, in_channels: int = 3,
                 width: float = 1.0, base_widths: Sequence[int] = (16, 32, 64)) -> None:
        super().__init__()
        widths = [max(1, int(round(w * width))) for w in base_widths]
        self.widths, self.strides = widths, [1] + [2] * (len(widths) - 1)
        self.stem = ConvBNAct(in_channels, widths[0], 3)
        cin, stages = widths[0], []
        for i, (w, d) in enumerate(zip(widths, depths)):
            stages.append(make_stage(cin, w, d, self.strides[i]))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.final = nn.Identity()
        self._finish(cin, num_classes)


class WideBlock(nn.Module):
    """Pre-activation wide basic block (Zagoruyko & Komodakis)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = None if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = torch.relu(self.bn1(x))
        short = x if self.shortcut is None else self.shortcut(o)
        o = self.conv2(torch.relu(self.bn2(self.conv1(o))))
        return o + short


class WideResNet(StagedNet):
    """WRN-d-k: (d - 4) / 6 blocks per stage, widths 16k / 32k / 64k."""

    def __init__(self, depth: int = 16, k: int = 4, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        n = (depth - 4) // 6
        widths = [16 * k, 32 * k, 64 * k]
        self.widths, self.strides = widths, [1, 2, 2]
        self.stem = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        cin, stages = 16, []
        for i, w in enumerate(widths):
            stages.append(nn.Sequential(*[WideBlock(cin if j == 0 else w, w, self.strides[i] if j == 0 else 1)
                                          for j in range(n)]))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.final = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True))
        self._finish(cin, num_classes)
