"""KDAS's space: a backbone student grown by add-on operations after each of its stages.

Stage s of the backbone is followed by n_s add-on layers (default one per stage). Add-on
layer j of a stage (1-based) picks an operation, output channels = input channels:
identity, conv3x3, conv5x5, sep_conv3x3, sep_conv5x5, max_pool3x3, avg_pool3x3 - and,
ENAS-style, which earlier outputs of the same stage feed it as extra skip inputs:
    h_0 = stage output,   x_j = mean(h_{j-1}, h_i for i in S_j),   S_j ⊆ {0 .. j-2}
    h_j = x_j + BN(op_j(x_j))      (identity: h_j = x_j)
so layer j has j-1 binary wiring decisions and a stage of n layers has
2^(n(n-1)/2) * 7^n candidates (the paper's count). The classifier is not searched.

Each add-on is a residual refinement ending in BatchNorm, so all paths hand the shared
classifier features of one scale. Plain (non-residual) add-ons made the weight-sharing
supernet collapse on mnist5k (mini-val ~27% after 9 epochs): pools and identities pass raw
activations while convolutions pass normalised ones. (A zero-initialised final BN trained
better still but left every path with the same score: no signal for the controller.)

String: stages separated by ``/``, layers by ``|``, wiring as the set of skip inputs:
``conv3x3/sep_conv5x5|identity<0>/max_pool3x3`` (``<0,2>`` lists skip sources).
"""
from __future__ import annotations

import re
from typing import Literal

import torch
import torch.nn as nn

from ..errors import DistillnasError
from ..cost import count_params
from ..models import build_model, parse_arch
from ..models.resnet import StagedNet
from ..models.blocks import Classifier, pool
from .base import Arch, Decision, SearchSpace
from .registry import SPACES, SpaceSection

ADDON_OPS = ("identity", "conv3x3", "conv5x5", "sep_conv3x3", "sep_conv5x5", "max_pool3x3", "avg_pool3x3")
_LAYER = re.compile(r"^(?P<op>[a-z_0-9]+)(?:<(?P<skips>[0-9,]*)>)?$")


def make_op(name: str, channels: int) -> nn.Module:
    """The residual branch of an add-on op: ReLU -> op -> BN (pools: op -> BN)."""
    if name == "identity":
        return nn.Identity()  # never called: identity adds nothing
    k = int(name[-1]) if name[-1].isdigit() and "pool" not in name else 3
    if name.startswith("conv"):
        body: list[nn.Module] = [nn.ReLU(), nn.Conv2d(channels, channels, k, 1, k // 2, bias=False)]
    elif name.startswith("sep_conv"):
        body = [nn.ReLU(), nn.Conv2d(channels, channels, k, 1, k // 2, groups=channels, bias=False),
                nn.Conv2d(channels, channels, 1, bias=False)]
    else:
        body = [pool("max" if name.startswith("max") else "avg", 3)]
    return nn.Sequential(*body, nn.BatchNorm2d(channels))


def backbone(name: str, num_classes: int, in_channels: int) -> StagedNet:
    family, _ = parse_arch(name)
    if family not in ("resnet", "wrn"):
        raise DistillnasError(f"addon backbone {name!r} must be a CIFAR ResNet (resnet20, resnet32, ...) or a WRN "
                              "(wrn-16-4, ...)")
    return build_model(name, num_classes, in_channels)  # type: ignore[return-value]


class AddonNet(Classifier):
    """Backbone stages, each followed by its add-on layers; `ops` holds one op per layer
    (a fixed student) or, in the supernet, every candidate op per layer."""

    def __init__(self, net: StagedNet, layers: list[int], choice: list[list[tuple[str, tuple]]] | None,
                 all_ops: bool = False) -> None:
        super().__init__()
        self.net, self.layers = net, layers
        self.num_features, self.classifier = net.num_features, net.classifier
        self.addons = nn.ModuleList()
        for s, n in enumerate(layers):
            width = net.widths[s]
            stage = nn.ModuleList()
            for j in range(n):
                names = ADDON_OPS if all_ops else (choice[s][j][0],)  # type: ignore[index]
                stage.append(nn.ModuleDict({name: make_op(name, width) for name in names}))
            self.addons.append(stage)
        self.choice = choice

    def forward_features(self, x: torch.Tensor, choice: list[list[tuple[str, tuple]]] | None = None) -> torch.Tensor:
        choice = choice or self.choice
        x = self.net.stem(x)
        for s, stage in enumerate(self.net.stages):
            h = [stage(x)]
            for j, ops in enumerate(self.addons[s]):
                op, skips = choice[s][j]  # type: ignore[index]
                inp = h[-1]
                if skips:
                    inp = torch.stack([inp] + [h[i] for i in skips]).mean(0)
                h.append(inp if op == "identity" else inp + ops[op](inp))
            x = h[-1]
        return self.net.head(self.net.final(x))

    def forward(self, x: torch.Tensor, choice: list[list[tuple[str, tuple]]] | None = None) -> torch.Tensor:
        return self.classifier(self.forward_features(x, choice))


class AddonConfig(SpaceSection):
    name: Literal["addon"] = "addon"
    backbone: str = "resnet20"  # the backbone student (CIFAR ResNet or WRN)
    layers: list[int] | None = None  # add-on layers after each stage (default one per stage)


@SPACES.register("addon")
class AddonSpace(SearchSpace):
    name = "addon"

    def __init__(self, backbone: str = "resnet20", layers: list[int] | tuple[int, ...] | None = None) -> None:
        self.backbone_name = backbone
        probe = globals()["backbone"](backbone, 10, 3)
        stages = len(probe.stages)
        self.layers = list(layers) if layers is not None else [1] * stages
        if len(self.layers) > stages:
            raise DistillnasError(f"add-on layers are given for {len(self.layers)} stages, but backbone {backbone!r} "
                                  f"has {stages} stages; give at most {stages} numbers")
        if any(n < 0 for n in self.layers) or sum(self.layers) == 0:
            raise DistillnasError(f"add-on layers per stage must be >= 0 with at least one layer, got {self.layers}")
        self.layers += [0] * (stages - len(self.layers))
        self.decisions = []
        for s, n in enumerate(self.layers):
            for j in range(1, n + 1):
                self.decisions.append(Decision(f"s{s}.l{j}.op", "op", ADDON_OPS))
                for i in range(j - 1):
                    self.decisions.append(Decision(f"s{s}.l{j}.skip{i}", "wire", (0, 1)))

    def config(self) -> dict:
        return {"name": self.name, "backbone": self.backbone_name, "layers": list(self.layers)}

    def choice(self, arch: Arch) -> list[list[tuple[str, tuple]]]:
        """Per stage, per layer: (op name, skip sources)."""
        arch = self.validate(arch)
        out, k = [], 0
        for n in self.layers:
            stage = []
            for j in range(1, n + 1):
                op = ADDON_OPS[arch[k]]
                skips = tuple(i for i in range(j - 1) if arch[k + 1 + i])
                k += j
                stage.append((op, skips))
            out.append(stage)
        return out

    def to_string(self, arch: Arch) -> str:
        return "/".join("|".join(op + (f"<{','.join(map(str, sk))}>" if sk else "") for op, sk in stage)
                        for stage in self.choice(arch))

    def from_string(self, text: str) -> Arch:
        stages = text.strip().split("/")
        if len(stages) != len(self.layers):
            raise DistillnasError(f"addon arch {text!r} has {len(stages)} stages; backbone {self.backbone_name!r} "
                                  f"has {len(self.layers)} (separate stages with '/')")
        tokens: list[int] = []
        for s, (part, n) in enumerate(zip(stages, self.layers)):
            layers = [p for p in part.split("|") if p] if part else []
            if len(layers) != n:
                raise DistillnasError(f"addon arch {text!r}: stage {s} has {len(layers)} add-on layers, "
                                      f"the space has {n}")
            for j, layer in enumerate(layers, 1):
                m = _LAYER.match(layer)
                if not m:
                    raise DistillnasError(f"malformed add-on layer {layer!r} in {text!r}; write e.g. conv3x3<0>")
                tokens.append(self.token_of(Decision(f"s{s}.l{j}.op", "op", ADDON_OPS), m["op"], text))
                skips = {int(i) for i in (m["skips"] or "").split(",") if i}
                if j == 1 and skips:
                    raise DistillnasError(f"addon arch {text!r}: layer 1 of stage {s} is the first add-on layer of "
                                          f"its stage and takes no skip inputs, got {sorted(skips)}")
                if any(i > j - 2 for i in skips):
                    raise DistillnasError(f"addon arch {text!r}: layer {j} of stage {s} can take skip inputs from "
                                          f"0..{j - 2} only, got {sorted(skips)}")
                tokens.extend(int(i in skips) for i in range(j - 1))
        return tuple(tokens)

    def build(self, arch: Arch, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        return AddonNet(backbone(self.backbone_name, num_classes, in_channels), self.layers, self.choice(arch))

    def supernet(self, num_classes: int, in_channels: int) -> AddonNet:
        """One network holding every candidate op of every add-on layer over a shared backbone."""
        return AddonNet(backbone(self.backbone_name, num_classes, in_channels), self.layers, None, all_ops=True)

    def backbone_params(self, num_classes: int, in_channels: int) -> int:
        return count_params(backbone(self.backbone_name, num_classes, in_channels))
