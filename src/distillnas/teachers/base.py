"""Teachers: anything that gives logits for examples of a dataset, alone or as an ensemble.

A teacher answers ``outputs(x, pool_idx)`` with a `TeacherOutput` whose logits have shape
(members, batch, classes). Module teachers read the images; a logits-file teacher reads
the pool indices (it cannot see augmentations: every view gets the plain image's logits).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
import torch.nn as nn

from ..distill import TeacherOutput
from ..errors import DistillnasError


@runtime_checkable
class Teacher(Protocol):
    """What training, the teacher cache and the zero-cost scores need of a teacher: a network
    (`ModuleTeacher`), a logits file (`LogitsTeacher`) or an ensemble of them (`Ensemble`)."""

    name: str

    @property
    def identity(self) -> str:
        """What the teacher cache keys its outputs by: the same weights give the same identity."""

    @property
    def num_classes(self) -> int: ...

    @property
    def num_members(self) -> int:
        """Networks behind the outputs (the first axis of `outputs(...).logits`)."""

    @property
    def has_features(self) -> bool:
        """Whether `outputs(..., features=True)` gives penultimate features (feature losses)."""

    def to(self, device: torch.device) -> "Teacher": ...

    def outputs(self, x: torch.Tensor | None, pool_idx: torch.Tensor, features: bool = False) -> TeacherOutput:
        """Logits (members, batch, classes) for images x, the examples `pool_idx` of the dataset."""


@dataclass(eq=False)
class ModuleTeacher:
    """A network in eval mode; features come from `forward_features` when it has one."""

    module: nn.Module
    name: str
    identity: str
    num_classes: int
    num_members: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __post_init__(self) -> None:
        self.module.eval()

    def to(self, device: torch.device) -> "ModuleTeacher":
        """The network on `device`."""
        self.module.to(device)
        self.device = device
        return self

    @property
    def has_features(self) -> bool:
        return hasattr(self.module, "forward_features") and hasattr(self.module, "classifier")

    @torch.inference_mode()
    def outputs(self, x: torch.Tensor, pool_idx: torch.Tensor, features: bool = False) -> TeacherOutput:
        x = x.to(self.device)
        if features:
            if not self.has_features:
                raise DistillnasError(f"teacher {self.name!r} exposes no penultimate features (forward_features)")
            f = self.module.forward_features(x)
            return TeacherOutput(self.module.classifier(f).float().unsqueeze(0), f.float().unsqueeze(0))
        return TeacherOutput(self.module(x).float().unsqueeze(0))


@dataclass(eq=False)
class LogitsTeacher:
    """Precomputed logits, one row per pool example (or per training-pool example)."""

    logits: torch.Tensor  # (rows, classes)
    name: str
    identity: str
    num_classes: int
    num_members: int = 1
    has_features: bool = False

    def to(self, device: torch.device) -> "LogitsTeacher":
        """The logits on `device`."""
        return self

    def outputs(self, x: torch.Tensor | None, pool_idx: torch.Tensor, features: bool = False) -> TeacherOutput:
        if features:
            raise DistillnasError(f"teacher {self.name!r} is a logits file: it has no features")
        if int(pool_idx.max()) >= len(self.logits):
            raise DistillnasError(f"teacher {self.name!r} has logits for the first {len(self.logits)} examples "
                                  "only (the training pool); this split reaches beyond them")
        return TeacherOutput(self.logits[pool_idx.cpu()].float().unsqueeze(0))


@dataclass(eq=False)
class Ensemble:
    """Several teachers answered together: member logits stacked along the first axis."""

    members: list
    name: str = "ensemble"

    def __post_init__(self) -> None:
        classes = {m.num_classes for m in self.members}
        if len(classes) != 1:
            raise DistillnasError(f"ensemble members disagree on the number of classes: {sorted(classes)}")

    @property
    def identity(self) -> str:
        return "+".join(m.identity for m in self.members)

    @property
    def num_classes(self) -> int:
        """How many classes the members predict (they all agree)."""
        return self.members[0].num_classes

    @property
    def num_members(self) -> int:
        return sum(m.num_members for m in self.members)

    @property
    def has_features(self) -> bool:
        return all(m.has_features for m in self.members)

    def to(self, device: torch.device) -> "Ensemble":
        """Every member on `device`."""
        for m in self.members:
            m.to(device)
        return self

    def outputs(self, x: torch.Tensor | None, pool_idx: torch.Tensor, features: bool = False) -> TeacherOutput:
        outs = [m.outputs(x, pool_idx, features) for m in self.members]
        feats = None
        if features:
            dims = {o.features.shape[-1] for o in outs}  # type: ignore[union-attr]
            if len(dims) != 1:
                raise DistillnasError(f"ensemble members have different feature widths {sorted(dims)}; "
                                      "feature losses need one width")
            feats = torch.cat([o.features.to("cpu") for o in outs])  # type: ignore[union-attr]
        return TeacherOutput(torch.cat([o.logits.to("cpu") for o in outs]), feats)


@dataclass(eq=False)
class FlipAveraged:
    """A teacher that answers for an image and its mirror image together: its logits (and
    features) are the mean of the inner teacher's on x and on x flipped left-right - test-time
    augmentation, the spec prefix ``flip:``. For data whose classes are mirror-symmetric and
    whose teacher was trained with flips (Fashion-MNIST, CIFAR), it is a stronger teacher at
    twice the inference cost: the fmnist_resnet20 members rose from 94.33-94.43 % to
    94.58-94.83 % and their ensemble from 94.84 % to 95.07 % on the official test set. Not for
    digits or text, where a mirror image is another class or none."""

    inner: ModuleTeacher

    @property
    def name(self) -> str:
        return f"flip:{self.inner.name}"

    @property
    def identity(self) -> str:
        return f"flip:{self.inner.identity}"

    @property
    def num_classes(self) -> int:
        return self.inner.num_classes

    @property
    def num_members(self) -> int:
        return self.inner.num_members

    @property
    def has_features(self) -> bool:
        return self.inner.has_features

    def to(self, device: torch.device) -> "FlipAveraged":
        """The inner teacher on `device`."""
        self.inner.to(device)
        return self

    def outputs(self, x: torch.Tensor | None, pool_idx: torch.Tensor, features: bool = False) -> TeacherOutput:
        if x is None:
            raise DistillnasError(f"teacher {self.name!r} needs the images to mirror them")
        a = self.inner.outputs(x, pool_idx, features)
        b = self.inner.outputs(x.flip(-1), pool_idx, features)
        feats = None if a.features is None or b.features is None else (a.features + b.features) / 2
        return TeacherOutput((a.logits + b.logits) / 2, feats)
