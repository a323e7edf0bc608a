"""KDAS's space: a backbone student grown by add-on operations after each of its stages.

Stage s of the backbone is followed by n_s add-on layers (default one per stage). Add-on
layer j of a stage (1-based) picks an operation, output channels = input channels:
identity, conv3x3, conv5x5, sep_conv3x3, sep_conv5x5, max_pool3x3, avg_pool3x3 - and,
ENAS-style, which earlier outputs feed it as extra skip inputs:
    h_{s,0} = output of backbone stage s,   h_{s,j} = output of add-on layer j of stage s
    x_{s,j} = mean(h_{s,j-1}, sources)      h_{s,j} = x_{s,j} + BN(op(x_{s,j}))  (identity: x)
The candidate sources of layer j of stage s are h_{s,0} .. h_{s,j-2} of its own stage and
every add-on output h_{t,m} (m >= 1) of the earlier stages t < s, resized to the layer's
shape without parameters (average pooling to its resolution, channels zero-padded). So the
k-th add-on layer of the whole network has k - 1 binary wiring decisions and a space of L
add-on layers has 2^(L(L-1)/2) * 7^L candidates - the paper's count over all L layers, not
per stage (with one layer per stage, wiring within stages alone left no decision at all).

Each add-on is a residual refinement ending in BatchNorm, so all paths hand the shared
classifier features of one scale. Plain (non-residual) add-ons made the weight-sharing
supernet collapse on mnist5k (mini-val ~27% after 9 epochs): pools and identities pass raw
activations while convolutions pass normalised ones. (A zero-initialised final BN trained
better still but left every path with the same score: no signal for the controller.)

Each wiring decision names its source layer's op decision (Decision.source), so the
REINFORCE/PPO controllers can score it by attention over earlier layers as ENAS does.

String: stages separated by ``/``, layers by ``|``, wiring as the set of skip inputs, ``i``
for h_{s,i} of the layer's own stage and ``t.m`` for add-on layer m of an earlier stage t:
``conv3x3/sep_conv5x5|identity<0,0.1>/max_pool3x3<1.2>``.
"""
from __future__ import annotations

import math
import re
from typing import Literal

import torch
import torch.nn as nn

from ..errors import DistillnasError
from ..cost import count_params
from ..models import build_model, parse_arch
from ..models.resnet import StagedNet
from ..models.blocks import Classifier, conv2d, pool
from .base import Arch, Decision, SearchSpace
from .registry import SPACES, SpaceSection

ADDON_OPS = ("identity", "conv3x3", "conv5x5", "sep_conv3x3", "sep_conv5x5", "max_pool3x3", "avg_pool3x3")
_LAYER = re.compile(r"^(?P<op>[a-z_0-9]+)(?:<(?P<skips>[0-9.,]*)>)?$")
Source = tuple[int, int]  # (stage, index of the output in that stage: 0 = the backbone stage's own)
Choice = list[list[tuple[str, tuple[Source, ...]]]]  # per stage, per layer: (op, skip sources)


class Resize(nn.Module):
    """A parameter-free skip from stage t to a later stage: average pooling over the stages'
    combined stride (ceil mode, as strided convolutions round), channels zero-padded
    (backbone widths never shrink with depth). Static sizes, so it exports to ONNX."""

    def __init__(self, stride: int, cin: int, cout: int) -> None:
        super().__init__()
        self.pad = cout - cin
        self.pool = nn.AvgPool2d(stride, stride, ceil_mode=True) if stride > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x)
        return nn.functional.pad(x, (0, 0, 0, 0, 0, self.pad)) if self.pad else x


def make_op(name: str, channels: int) -> nn.Module:
    """The residual branch of an add-on op: ReLU -> op -> BN (pools: op -> BN)."""
    if name == "identity":
        return nn.Identity()  # never called: identity adds nothing
    k = int(name[-1]) if name[-1].isdigit() and "pool" not in name else 3
    if name.startswith("conv"):
        body: list[nn.Module] = [nn.ReLU(), nn.Conv2d(channels, channels, k, 1, k // 2, bias=False)]
    elif name.startswith("sep_conv"):
        body = [nn.ReLU(), conv2d(channels, channels, k, groups=channels), nn.Conv2d(channels, channels, 1, bias=False)]
    else:
        body = [pool("max" if name.startswith("max") else "avg", 3)]
    return nn.Sequential(*body, nn.BatchNorm2d(channels))


def backbone(name: str, num_classes: int, in_channels: int) -> StagedNet:
    """The backbone network an add-on space grows (resnet or wrn), by name."""
    family, _ = parse_arch(name)
    if family not in ("resnet", "wrn"):
        raise DistillnasError(f"addon backbone {name!r} must be a CIFAR ResNet (resnet20, resnet32, ...) or a WRN "
                              "(wrn-16-4, ...)")
    return build_model(name, num_classes, in_channels)  # type: ignore[return-value]


class AddonNet(Classifier):
    """Backbone stages, each followed by its add-on layers; `ops` holds one op per layer
    (a fixed student) or, in the supernet, every candidate op per layer."""

    def __init__(self, net: StagedNet, layers: list[int], choice: Choice | None,
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
        # every (source stage, target stage) pair a cross-stage skip may join, parameter-free
        self.resize = nn.ModuleDict({
            f"{t}_{s}": Resize(math.prod(net.strides[t + 1:s + 1]), net.widths[t], net.widths[s])
            for s in range(len(layers)) for t in range(s)})

    def forward_features(self, x: torch.Tensor, choice: Choice | None = None) -> torch.Tensor:
        """The pooled embedding before the classifier (what feature losses read)."""
        choice = choice or self.choice
        x = self.net.stem(x)
        outs: list[list[torch.Tensor]] = []  # per stage: h_0 (the stage's output), then each add-on's
        for s, stage in enumerate(self.net.stages):
            h = [stage(x)]
            outs.append(h)
            for j, ops in enumerate(self.addons[s]):
                op, skips = choice[s][j]  # type: ignore[index]
                inp = h[-1]
                if skips:
                    inp = torch.stack([inp] + [outs[t][i] if t == s else self.resize[f"{t}_{s}"](outs[t][i])
                                               for t, i in skips]).mean(0)
                h.append(inp if op == "identity" else inp + ops[op](inp))
            x = h[-1]
        return self.net.head(self.net.final(x))

    def forward(self, x: torch.Tensor, choice: Choice | None = None) -> torch.Tensor:
        return self.classifier(self.forward_features(x, choice))


class AddonConfig(SpaceSection):
    """KDAS's add-on space: the backbone, the layers added after each stage and their ops."""
    name: Literal["addon"] = "addon"
    backbone: str = "resnet20"  # the backbone student (CIFAR ResNet or WRN)
    layers: list[int] | None = None  # add-on layers after each stage (default one per stage)


@SPACES.register("addon", 'KDAS: add-on operations after each stage of a ResNet backbone')
class AddonSpace(SearchSpace):
    """KDAS: a backbone grown by add-on operations after each stage, each wired to an earlier layer."""
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
        if any(b < a for a, b in zip(probe.widths, probe.widths[1:])):
            raise DistillnasError(f"addon backbone {backbone!r} narrows between stages ({probe.widths}); cross-stage "
                                  "skip inputs are zero-padded to the wider stage, so widths must not shrink")
        self.decisions = []
        op_at: dict[Source, int] = {}  # (stage, layer) -> index of its op decision
        for s, n in enumerate(self.layers):
            for j in range(1, n + 1):
                op_at[(s, j)] = len(self.decisions)
                self.decisions.append(Decision(f"s{s}.l{j}.op", "op", ADDON_OPS))
                for t, i in self.sources_of(s, j):
                    name = f"s{s}.l{j}.skip{i}" if t == s else f"s{s}.l{j}.from{t}.{i}"
                    self.decisions.append(Decision(name, "wire", (0, 1), op_at.get((t, i))))

    def sources_of(self, s: int, j: int) -> list[Source]:
        """The candidate skip inputs of layer j of stage s, in token order."""
        return [(s, i) for i in range(j - 1)] + [(t, m) for t in range(s) for m in range(1, self.layers[t] + 1)]

    def config(self) -> dict:
        return {"name": self.name, "backbone": self.backbone_name, "layers": list(self.layers)}

    def choice(self, arch: Arch) -> Choice:
        """Per stage, per layer: (op name, skip sources as (stage, output index))."""
        arch = self.validate(arch)
        out: Choice = []
        k = 0
        for s, n in enumerate(self.layers):
            stage = []
            for j in range(1, n + 1):
                sources = self.sources_of(s, j)
                stage.append((ADDON_OPS[arch[k]], tuple(src for b, src in zip(arch[k + 1:], sources) if b)))
                k += 1 + len(sources)
            out.append(stage)
        return out

    def to_string(self, arch: Arch) -> str:
        def name(s: int, src: Source) -> str:
            return str(src[1]) if src[0] == s else f"{src[0]}.{src[1]}"

        return "/".join("|".join(op + (f"<{','.join(name(s, x) for x in sk)}>" if sk else "") for op, sk in stage)
                        for s, stage in enumerate(self.choice(arch)))

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
                    raise DistillnasError(f"malformed add-on layer {layer!r} in {text!r}; write e.g. conv3x3<0,1.1>")
                tokens.append(self.token_of(Decision(f"s{s}.l{j}.op", "op", ADDON_OPS), m["op"], text))
                sources = self.sources_of(s, j)
                skips = {self._source(s, j, item, text) for item in (m["skips"] or "").split(",") if item}
                bad = sorted(skips - set(sources))
                if bad:
                    allowed = ", ".join(f"{i}" if t == s else f"{t}.{i}" for t, i in sources) or "none"
                    shown = ", ".join(f"{i}" if t == s else f"{t}.{i}" for t, i in bad)
                    raise DistillnasError(f"addon arch {text!r}: layer {j} of stage {s} cannot take skip input(s) "
                                          f"{shown}; allowed: {allowed}")
                tokens.extend(int(src in skips) for src in sources)
        return tuple(tokens)

    @staticmethod
    def _source(s: int, j: int, item: str, text: str) -> Source:
        """'i' (output i of the layer's own stage) or 't.m' (add-on m of stage t)."""
        parts = item.split(".")
        if len(parts) > 2 or not all(p.isdigit() for p in parts):
            raise DistillnasError(f"addon arch {text!r}: skip input {item!r} of layer {j} of stage {s} must be "
                                  "'i' (own stage) or 't.m' (add-on m of an earlier stage t)")
        return (s, int(parts[0])) if len(parts) == 1 else (int(parts[0]), int(parts[1]))

    def build(self, arch: Arch, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        return AddonNet(backbone(self.backbone_name, num_classes, in_channels), self.layers, self.choice(arch))

    def supernet(self, num_classes: int, in_channels: int) -> AddonNet:
        """One network holding every candidate op of every add-on layer over a shared backbone."""
        return AddonNet(backbone(self.backbone_name, num_classes, in_channels), self.layers, None, all_ops=True)

    def backbone_params(self, num_classes: int, in_channels: int) -> int:
        """Parameters of the plain backbone (what the memory limit is a multiple of)."""
        return count_params(backbone(self.backbone_name, num_classes, in_channels))
