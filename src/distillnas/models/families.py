"""Man-made model families, chosen by an arch name: the grammar and the builder.

Grammar (dash-separated): ``resnet20`` (any 6n+2), ``resnet-1-3-5`` (blocks per stage),
``wrn-16-4`` (depth, widen factor), ``mobilenetv2``; ResNets and MobileNetV2 take an
optional ``-w0.5`` width multiplier. `canonical_arch` gives the one spelling of a name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from ..errors import DistillnasError
from ..registry import Registry
from .blocks import Classifier
from .mobilenet import MobileNetV2
from .resnet import CifarResNet, WideResNet


@dataclass(frozen=True)
class Family:
    """A family of man-made archs (resnet, wrn, mobilenetv2, ...): its name pattern and builder."""
    parse: Callable[[list[str], str], dict]
    canonical: Callable[[dict], str]
    build: Callable[..., Classifier]


FAMILIES: Registry[Family] = Registry("model family")


def _width(tokens: list[str], arch: str) -> tuple[list[str], float]:
    if tokens and tokens[-1].startswith("w"):
        try:
            w = float(tokens[-1][1:])
        except ValueError:
            raise DistillnasError(f"bad width {tokens[-1]!r} in arch {arch!r}; write e.g. -w0.5") from None
        if not 0 < w <= 8:
            raise DistillnasError(f"width multiplier in {arch!r} must be in (0, 8], got {w}")
        return tokens[:-1], w
    return tokens, 1.0


def _ints(tokens: list[str], arch: str) -> list[int]:
    try:
        values = [int(t) for t in tokens]
    except ValueError:
        raise DistillnasError(f"bad arch {arch!r}: expected integers after the family name") from None
    if any(v < 1 for v in values):
        raise DistillnasError(f"bad arch {arch!r}: depths must be >= 1")
    return values


def _fmt_w(w: float) -> str:
    return "" if w == 1.0 else f"-w{w:g}"


def _parse_resnet(tokens: list[str], arch: str) -> dict:
    head, rest = tokens[0], tokens[1:]
    rest, width = _width(rest, arch)
    if head == "resnet":
        depths = _ints(rest, arch)
        if len(depths) != 3:
            raise DistillnasError(f"bad arch {arch!r}: resnet-a-b-c takes 3 per-stage depths")
    else:
        digits = head[len("resnet"):]
        total = int(digits) if digits.isdigit() else -1
        if (total - 2) % 6 or total < 8 or rest:
            raise DistillnasError(f"bad arch {arch!r}: resnetN needs N = 6n + 2 (8, 14, 20, 32, 56, 110, ...)")
        depths = [(total - 2) // 6] * 3
    return {"depths": tuple(depths), "width": width}


def _canon_resnet(p: dict) -> str:
    d = p["depths"]
    name = f"resnet{6 * d[0] + 2}" if len(set(d)) == 1 else "resnet-" + "-".join(map(str, d))
    return name + _fmt_w(p["width"])


def _parse_wrn(tokens: list[str], arch: str) -> dict:
    values = _ints(tokens[1:], arch)
    if len(values) != 2 or (values[0] - 4) % 6 or values[0] < 10:
        raise DistillnasError(f"bad arch {arch!r}: write wrn-DEPTH-K with DEPTH = 6n + 4 (e.g. wrn-16-4)")
    return {"depth": values[0], "k": values[1]}


def _parse_mbv2(tokens: list[str], arch: str) -> dict:
    rest, width = _width(tokens[1:], arch)
    if rest:
        raise DistillnasError(f"bad arch {arch!r}: mobilenetv2 takes only an optional -wX width")
    return {"width": width}


FAMILIES.register("resnet", 'CIFAR ResNets: resnetN (N = 6n+2: 8, 20, 56, ...), resnet-a-b-c per-stage depths, -wX width')(Family(
    _parse_resnet, _canon_resnet,
    lambda p, num_classes, in_channels, input_size: CifarResNet(p["depths"], num_classes, in_channels, p["width"])))
FAMILIES.register("wrn", 'wide ResNets: wrn-DEPTH-K (Zagoruyko & Komodakis 2016)')(Family(
    _parse_wrn, lambda p: f"wrn-{p['depth']}-{p['k']}",
    lambda p, num_classes, in_channels, input_size: WideResNet(p["depth"], p["k"], num_classes, in_channels)))
FAMILIES.register("mobilenetv2", 'MobileNetV2 (Sandler et al. 2018) scaled by width, -wX')(Family(
    _parse_mbv2, lambda p: "mobilenetv2" + _fmt_w(p["width"]),
    lambda p, num_classes, in_channels, input_size: MobileNetV2(num_classes, in_channels, p["width"], input_size)))


def parse_arch(arch: str) -> tuple[str, dict]:
    """(family, parameters) of a man-made arch name; errors name the bad part."""
    tokens = arch.strip().lower().split("-")
    family = next((f for f in sorted(FAMILIES.names(), key=len, reverse=True) if tokens[0].startswith(f)),
                  re.sub(r"[0-9.]+$", "", tokens[0]))
    return family, FAMILIES.get(family).parse(tokens, arch)


def canonical_arch(arch: str) -> str:
    """The canonical spelling of a man-made arch name (refused with the nearest names if unknown)."""
    family, params = parse_arch(arch)
    return FAMILIES.get(family).canonical(params)


def build_model(arch: str, num_classes: int, in_channels: int = 3, input_size: int = 32) -> Classifier:
    """An `nn.Module` for a man-made arch name; returns logits, exposes `forward_features`."""
    family, params = parse_arch(arch)
    return FAMILIES.get(family).build(params, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
