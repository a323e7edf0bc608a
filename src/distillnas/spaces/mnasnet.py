"""AKD's MnasNet-style factorized hierarchical space.

B blocks (default 7); each block repeats one layer type and chooses independently:
conv op {conv, dconv, mb3, mb6}, kernel {3, 5}, squeeze-excite {0, 0.25}, skip op
{none, identity, pooling} (MnasNet / AKD: 4 ops x 2 kernels x 2 SE x 3 skips), width
multiplier {0.75, 1.0, 1.25} of the block's base width and layers {-1, 0, +1} around its
base depth (never below 1). The base - stem, per-block widths, depths and strides, head
width - is the space's config, with presets for 28/32-pixel inputs and for 224 (the
MnasNet / MobileNetV2 base).

No two options of a decision build the same network: per block, width multipliers that
round to the same channel count are merged (the one closest to 1 is kept) and depth deltas
that give the same layer count are merged (the one closest to 0 is kept), so e.g. a block
of base depth 1 offers d0 and d+1 only. The controller then never spends capacity telling
identical networks apart. One-hot size: 11 per block (op 4, kernel 2, SE 2, skip 3) plus
its distinct widths and depths: 114 for `tiny` (was 112 with every alias and no pooling
skip), 116 for `cifar` and `imagenet` (42 decisions each).

Skip ops: `id` adds the input where shapes match (stride 1, same channels: the block's
later layers); `pool` does that and also gives the block's first layer a parameter-free
shortcut where shapes differ - average pooling over the stride and zero-padded (or
truncated) channels, as ResNet's option-A shortcut.

Block string: ``mb6_k5_se0.25_pool_w1.25_d+1`` (op, kernel, SE, skip no|id|pool, width,
depth delta); an arch is its blocks joined by ``|``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn

from ..errors import DistillnasError
from ..models.blocks import Classifier, ConvBNAct, Head, MBConv, SepConv, SqueezeExcite, round_channels
from .base import Arch, Decision, SearchSpace
from .registry import SPACES, SpaceSection

OPS = ("conv", "dconv", "mb3", "mb6")
KERNELS = (3, 5)
SE = (0.0, 0.25)
SKIPS = ("no", "id", "pool")
WIDTHS = (0.75, 1.0, 1.25)
DEPTHS = (-1, 0, 1)
KINDS = ("op", "kernel", "se", "skip", "width", "depth")
ORDERED = ("kernel", "se", "width", "depth")  # numeric options; op and skip are kinds, not amounts


@dataclass(frozen=True)
class Base:
    """A MnasNet preset's base network: stem, per-block widths, depths and strides."""
    stem: int
    stem_stride: int
    widths: tuple[int, ...]
    depths: tuple[int, ...]
    strides: tuple[int, ...]
    head: int
    divisor: int = 4


PRESETS = {
    # 28x28 / 32x32 and small budgets: narrow, two reductions (the embedded default)
    "tiny": Base(8, 1, (8, 12, 16, 24, 32, 48, 64), (1, 1, 2, 2, 2, 1, 1), (1, 2, 1, 2, 1, 1, 1), 128),
    # CIFAR-size inputs at MnasNet widths, three reductions
    "cifar": Base(32, 1, (16, 24, 40, 80, 96, 192, 320), (1, 2, 3, 4, 2, 3, 1), (1, 1, 2, 2, 1, 2, 1), 1280, 8),
    # 224x224: the MnasNet / MobileNetV2 base
    "imagenet": Base(32, 2, (16, 24, 40, 80, 96, 192, 320), (1, 2, 3, 4, 2, 3, 1), (1, 2, 2, 2, 1, 2, 1), 1280, 8),
}
_BLOCK = re.compile(r"^(?P<op>[a-z0-9]+)_k(?P<k>\d+)_se(?P<se>[0-9.]+)_(?P<skip>[a-z]+)_w(?P<w>[0-9.]+)_d(?P<d>[+-]?\d+)$")



class PoolShortcut(nn.Module):
    """Parameter-free shortcut between shapes: average pooling over the stride, channels
    zero-padded (or truncated) to the output's."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.cin, self.cout = cin, cout
        self.pool = nn.AvgPool2d(stride, stride, ceil_mode=True) if stride > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x)
        if self.cout > self.cin:
            return nn.functional.pad(x, (0, 0, 0, 0, 0, self.cout - self.cin))
        return x[:, : self.cout]


class Layer(nn.Module):
    """One layer of a block: the chosen op, optional SE, and the skip op."""

    def __init__(self, op: str, cin: int, cout: int, kernel: int, stride: int, se: float, skip: str) -> None:
        super().__init__()
        if op in ("mb3", "mb6"):
            self.body: nn.Module = MBConv(cin, cout, 3 if op == "mb3" else 6, kernel, stride, se, skip=False)
        elif op == "dconv":
            self.body = SepConv(cin, cout, kernel, stride, se)
        else:
            conv = ConvBNAct(cin, cout, kernel, stride)
            self.body = nn.Sequential(conv, SqueezeExcite(cout, int(cin * se))) if se > 0 else conv
        same = stride == 1 and cin == cout
        self.residual = skip != "no" and same  # identity
        self.shortcut = PoolShortcut(cin, cout, stride) if skip == "pool" and not same else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        if self.residual:
            return out + x
        return out + self.shortcut(x) if self.shortcut is not None else out


class MnasNet(Classifier):
    """A student built from a MnasNet-space arch: stem, searched blocks, head."""
    def __init__(self, blocks: list[dict], base: Base, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.stem = ConvBNAct(in_channels, base.stem, 3, base.stem_stride)
        layers, cin = [], base.stem
        for i, b in enumerate(blocks):
            cout = round_channels(base.widths[i] * b["width"], base.divisor)
            for j in range(max(1, base.depths[i] + b["depth"])):
                layers.append(Layer(b["op"], cin, cout, b["kernel"], base.strides[i] if j == 0 else 1, b["se"],
                                    b["skip"]))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.last = ConvBNAct(cin, base.head, 1)
        self.head = Head()
        self.num_features = base.head
        self.classifier = nn.Linear(base.head, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled embedding before the classifier (what feature losses read)."""
        return self.head(self.last(self.layers(self.stem(x))))


class MnasNetConfig(SpaceSection):
    """AKD's MnasNet-style space: the preset, the number of blocks and options to restrict."""
    name: Literal["mnasnet"] = "mnasnet"
    preset: str = "tiny"  # base network: tiny (28/32 px, small) | cifar | imagenet
    blocks: int | None = None  # number of blocks (default: the preset's 7)


@SPACES.register("mnasnet", "AKD's MnasNet-style space: 7 blocks of op, kernel, SE, skip, width, depth")
class MnasNetSpace(SearchSpace):
    """AKD's space: per block an op, kernel, squeeze-excite, skip, width and depth."""
    name = "mnasnet"

    def __init__(self, preset: str = "tiny", blocks: int | None = None) -> None:
        if preset not in PRESETS:
            raise DistillnasError(f"unknown mnasnet preset {preset!r}; choose one of: {', '.join(PRESETS)}")
        self.preset, self.base = preset, PRESETS[preset]
        self.num_blocks = blocks or len(self.base.widths)
        if not 1 <= self.num_blocks <= len(self.base.widths):
            raise DistillnasError(f"mnasnet preset {preset!r} has 1..{len(self.base.widths)} blocks, got {blocks}")
        self.decisions = []
        for i in range(self.num_blocks):
            choices = {"op": OPS, "kernel": KERNELS, "se": SE, "skip": SKIPS, "width": self.block_widths(i),
                       "depth": self.block_depths(i)}
            self.decisions += [Decision(f"b{i}.{k}", k, choices[k], ordered=k in ORDERED) for k in KINDS]

    def block_widths(self, i: int) -> tuple[float, ...]:
        """Width multipliers of block i that give distinct channel counts (closest to 1 kept)."""
        by_channels: dict[int, float] = {}
        for w in sorted(WIDTHS, key=lambda w: (abs(w - 1.0), w)):
            by_channels.setdefault(round_channels(self.base.widths[i] * w, self.base.divisor), w)
        return tuple(sorted(by_channels.values()))

    def block_depths(self, i: int) -> tuple[int, ...]:
        """Depth deltas of block i that give distinct layer counts (closest to 0 kept)."""
        by_layers: dict[int, int] = {}
        for d in sorted(DEPTHS, key=lambda d: (abs(d), d)):
            by_layers.setdefault(max(1, self.base.depths[i] + d), d)
        return tuple(sorted(by_layers.values()))

    def config(self) -> dict:
        return {"name": self.name, "preset": self.preset, "blocks": self.num_blocks}

    def blocks(self, arch: Arch) -> list[dict]:
        """How many searched blocks an arch has."""
        v = self.values(arch)
        return [{k: v[f"b{i}.{k}"] for k in KINDS} for i in range(self.num_blocks)]

    def to_string(self, arch: Arch) -> str:
        return "|".join(f"{b['op']}_k{b['kernel']}_se{b['se']:g}_{b['skip']}_w{b['width']:g}_d{b['depth']:+d}"
                        .replace("_d+0", "_d0") for b in self.blocks(arch))

    def from_string(self, text: str) -> Arch:
        parts = text.strip().split("|")
        if len(parts) != self.num_blocks:
            raise DistillnasError(f"mnasnet arch {text!r} has {len(parts)} blocks; this space has {self.num_blocks}")
        tokens: list[int] = []
        for i, part in enumerate(parts):
            m = _BLOCK.match(part)
            if not m:
                raise DistillnasError(f"malformed mnasnet block {part!r} in {text!r}; write e.g. mb6_k5_se0.25_pool_w1.25_d+1")
            values = {"op": m["op"], "kernel": int(m["k"]), "se": float(m["se"]), "skip": m["skip"],
                      "width": float(m["w"]), "depth": int(m["d"])}
            for k in KINDS:
                tokens.append(self.token_of(self.decisions[i * len(KINDS) + KINDS.index(k)], values[k], text))
        return tuple(tokens)

    def build(self, arch: Arch, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        return MnasNet(self.blocks(arch), self.base, num_classes, in_channels)
