"""Building blocks shared by the man-made families and the search spaces."""
from __future__ import annotations

import torch
import torch.nn as nn


def round_channels(c: float, divisor: int = 8) -> int:
    """Channels rounded to the nearest multiple of `divisor` (at least one multiple), as MobileNets do."""
    return max(divisor, int(c + divisor / 2) // divisor * divisor)


class Classifier(nn.Module):
    """A network that exposes its penultimate features (for feature losses) and its logits.

    Subclasses define ``forward_features(x) -> (B, num_features)`` and ``classifier``.
    """

    num_features: int
    classifier: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


class DepthwiseConv2d(nn.Conv2d):
    """A depthwise convolution (groups == in_channels) that computes in float32 under CPU bf16 autocast.

    Why: oneDNN's bf16 depthwise kernels are slow on CPU (torch 2.13, AMD EPYC with avx512_bf16):
    forward + backward of a 5x5 stride-2 depthwise conv on 128 x 12 x 28 x 28 took ~45 ms in bf16
    against ~5 ms in float32 channels-last, and a MnasNet student's step spent half its time
    there (`bench/depthwise_precision.py` measures each shape and whole students). Float32 here
    only adds precision; dense convs stay in bf16. Elsewhere (CUDA, fp16, no autocast) it is a
    plain Conv2d, and its state dict is a Conv2d's, so checkpoints do not change.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu") \
                and torch.get_autocast_dtype("cpu") == torch.bfloat16:
            with torch.autocast("cpu", enabled=False):
                return super().forward(x.float())
        return super().forward(x)


def conv2d(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = False) -> nn.Conv2d:
    """A 'same'-padded convolution; depthwise ones (groups == cin == cout > 1) are DepthwiseConv2d."""
    cls = DepthwiseConv2d if groups > 1 and groups == cin == cout else nn.Conv2d
    return cls(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=bias)


class ConvBNAct(nn.Sequential):
    """k x k conv (no bias) -> BatchNorm -> optional ReLU; 'same' padding."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1, act: bool = True) -> None:
        layers: list[nn.Module] = [conv2d(cin, cout, kernel, stride, groups), nn.BatchNorm2d(cout)]
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    """Channel attention: global pool -> reduce -> ReLU -> expand -> sigmoid gate.

    `reduced` is counted from the block's input width, as MnasNet does.
    """

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, max(1, reduced), 1)
        self.expand = nn.Conv2d(max(1, reduced), channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(torch.relu(self.reduce(s))))


class SepConv(nn.Module):
    """Depthwise-separable conv: depthwise k x k -> BN -> ReLU -> [SE] -> pointwise 1x1 -> BN."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, se_ratio: float = 0.0,
                 act_out: bool = False) -> None:
        super().__init__()
        self.dw = ConvBNAct(cin, cin, kernel, stride, groups=cin)
        self.se = SqueezeExcite(cin, int(cin * se_ratio)) if se_ratio > 0 else nn.Identity()
        self.pw = ConvBNAct(cin, cout, 1, act=act_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw(self.se(self.dw(x)))


class MBConv(nn.Module):
    """Inverted residual (MobileNetV2/MnasNet): 1x1 expand -> depthwise k x k -> [SE] -> 1x1 project.

    The residual is added only when `skip` is asked for and shapes allow it.
    """

    def __init__(self, cin: int, cout: int, expansion: int = 6, kernel: int = 3, stride: int = 1,
                 se_ratio: float = 0.0, skip: bool = True) -> None:
        super().__init__()
        mid = cin * expansion
        self.expand = ConvBNAct(cin, mid, 1) if expansion != 1 else nn.Identity()
        self.dw = ConvBNAct(mid, mid, kernel, stride, groups=mid)
        self.se = SqueezeExcite(mid, int(cin * se_ratio)) if se_ratio > 0 else nn.Identity()
        self.project = ConvBNAct(mid, cout, 1, act=False)
        self.residual = skip and stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.dw(self.expand(x))))
        return out + x if self.residual else out


def pool(kind: str, kernel: int = 3) -> nn.Module:
    """Shape-preserving 3x3 max or average pool (stride 1)."""
    if kind == "max":
        return nn.MaxPool2d(kernel, 1, kernel // 2)
    return nn.AvgPool2d(kernel, 1, kernel // 2, count_include_pad=False)


class Head(nn.Module):
    """Global average pool -> flatten: the penultimate features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3))
