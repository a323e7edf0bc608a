"""A MobileNetV2-like network with a width multiplier, adapted to small inputs."""
from __future__ import annotations

import torch
import torch.nn as nn

from .blocks import Classifier, ConvBNAct, Head, MBConv, round_channels

# (expansion, channels, repeats, stride) as in MobileNetV2's Table 2.
_ROWS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]



class MobileNetV2(Classifier):
    """For inputs of 64 pixels or less the stem and the first two reductions keep stride 1."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: float = 1.0, input_size: int = 32) -> None:
        super().__init__()
        small = input_size <= 64
        stem = round_channels(32 * width)
        self.stem = ConvBNAct(in_channels, stem, 3, 1 if small else 2)
        blocks, cin, reductions = [], stem, 0
        for t, c, n, s in _ROWS:
            cout = round_channels(c * width)
            if s == 2 and small and reductions < 2:
                s, reductions = 1, reductions + 1
            for i in range(n):
                blocks.append(MBConv(cin, cout, t, 3, s if i == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        last = round_channels(1280 * max(1.0, width))
        self.last = ConvBNAct(cin, last, 1)
        self.head = Head()
        self.num_features = last
        self.classifier = nn.Linear(last, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled embedding before the classifier (what feature losses read)."""
        return self.head(self.last(self.blocks(self.stem(x))))
