"""Distillation losses, each a small module with its formula, plus functional forms.

Every loss module is called as ``loss(student_logits, targets, teacher, student_features)``
where ``teacher`` is a `TeacherOutput` with member logits of shape (members, batch,
classes) (a single teacher has one member) and optional member features. Modules say
whether they need the teacher (``needs_teacher``) and its features (``needs_features``)
so the trainer caches only what is used.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import DistillnasError
from ..recipe import LossConfig
from ..registry import Registry
from ..section import validate


@dataclass
class TeacherOutput:
    """A teacher's outputs for a batch: member logits and, when a loss needs them, member features."""
    logits: torch.Tensor  # (members, batch, classes)
    features: torch.Tensor | None = None  # (members, batch, dim)


def _kl_per_example(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(t/T) || softmax(s/T)) per example, summed over classes."""
    t = temperature
    log_p_t = F.log_softmax(teacher_logits / t, dim=-1)
    log_p_s = F.log_softmax(student_logits / t, dim=-1)
    return (t * t) * (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1)


def ce_loss(student_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy H(softmax(s), y)."""
    return F.cross_entropy(student_logits, targets)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor,
            temperature: float = 4.0, kd_weight: float = 0.9) -> torch.Tensor:
    """(1 - w) * CE(s, y) + w * T^2 * KL(softmax(t/T) || softmax(s/T)), batch mean.

    Hinton et al.; AKD uses T=1, w=0.9; KDAS uses T=3, w=1.
    """
    ce = F.cross_entropy(student_logits, targets, reduction="none")
    kl = _kl_per_example(student_logits, teacher_logits, temperature)
    return ((1.0 - kd_weight) * ce + kd_weight * kl).mean()


def oracle_teacher_logits(member_logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per example, the mean logits of the members whose argmax is the label (KDAS eq. 4).

    Returns (logits (B, C), number of correct members (B,)); rows with no correct member
    hold zeros and must not be used.
    """
    correct = (member_logits.argmax(-1) == targets.unsqueeze(0)).to(member_logits.dtype)  # (M, B)
    count = correct.sum(0)
    mean = (correct.unsqueeze(-1) * member_logits).sum(0) / count.clamp_min(1).unsqueeze(-1)
    return mean, count


def od_loss(student_logits: torch.Tensor, member_logits: torch.Tensor, targets: torch.Tensor,
            temperature: float = 3.0, kd_weight: float = 1.0) -> torch.Tensor:
    """Oracle KD (KDAS eq. 4), batch mean of per-example terms.

    With u_j = [argmax t_j == y] and  t̄ = sum_j u_j t_j / sum_j u_j:
        L = (1 - w) CE(s, y) + w T^2 KL(softmax(t̄/T) || softmax(s/T))   if sum_j u_j > 0
        L = CE(s, y)                                                      otherwise
    """
    ce = F.cross_entropy(student_logits, targets, reduction="none")
    teacher, count = oracle_teacher_logits(member_logits, targets)
    kd = (1.0 - kd_weight) * ce + kd_weight * _kl_per_example(student_logits, teacher, temperature)
    return torch.where(count > 0, kd, ce).mean()


class CELoss(nn.Module):
    """Cross-entropy with the labels; ignores the teacher."""

    needs_teacher = False
    needs_features = False

    def forward(self, logits, targets, teacher=None, features=None):  # noqa: ANN001, ANN201
        return ce_loss(logits, targets)


class KDLoss(nn.Module):
    """Hinton KD against the teacher; an ensemble is averaged over members first."""

    needs_teacher = True
    needs_features = False

    def __init__(self, temperature: float = 4.0, kd_weight: float = 0.9) -> None:
        super().__init__()
        self.temperature, self.kd_weight = temperature, kd_weight

    def forward(self, logits, targets, teacher, features=None):  # noqa: ANN001, ANN201
        return kd_loss(logits, teacher.logits.mean(0), targets, self.temperature, self.kd_weight)


class ODLoss(KDLoss):
    """Oracle KD from an ensemble: imitate only the members that are right (KDAS)."""

    def forward(self, logits, targets, teacher, features=None):  # noqa: ANN001, ANN201
        return od_loss(logits, teacher.logits, targets, self.temperature, self.kd_weight)


class FeatureMSE(nn.Module):
    """mean || P f_s - [f_t1, .., f_tM] ||^2 over penultimate features (AKD §6: "distill the
    output feature of the penultimate layer by minimizing the mean square error").

    An ensemble's member features are concatenated, not averaged: independently trained
    members have unaligned embedding spaces, and their mean mixes unrelated coordinates.
    P is a learned linear projection when the widths differ, the identity otherwise.
    """

    needs_teacher = True
    needs_features = True

    def __init__(self, student_dim: int, teacher_dim: int) -> None:
        super().__init__()
        self.proj = nn.Identity() if student_dim == teacher_dim else nn.Linear(student_dim, teacher_dim, bias=False)

    def forward(self, logits, targets, teacher, features):  # noqa: ANN001, ANN201
        if teacher.features is None:
            raise DistillnasError("feature_mse needs teacher features, but the teacher gave none")
        target = teacher.features.transpose(0, 1).flatten(1)  # (B, M * D)
        return F.mse_loss(self.proj(features), target)


# name -> factory(the loss section, student feature dim, teacher feature dim) -> loss module
LossFactory = Callable[[LossConfig, int, int], nn.Module]
LOSSES: Registry[LossFactory] = Registry("loss")
LOSSES.register("ce", 'cross-entropy on the labels, no teacher')(lambda cfg, student_dim, teacher_dim: CELoss())
LOSSES.register("kd", 'Hinton KD: (1-w) CE + w T^2 KL(teacher || student) at temperature T')(lambda cfg, student_dim, teacher_dim: KDLoss(cfg.temperature, cfg.kd_weight))
LOSSES.register("od", "KDAS's oracle KD: follow the ensemble members that are right")(lambda cfg, student_dim, teacher_dim: ODLoss(cfg.temperature, cfg.kd_weight))
LOSSES.register("feature_mse", 'MSE between projected student and teacher penultimate features (FitNets-style)')(lambda cfg, student_dim, teacher_dim: FeatureMSE(student_dim, teacher_dim))

_TERM = re.compile(r"^\s*(?:([0-9]*\.?[0-9]+)\s*\*\s*)?([a-z_]+)\s*$")


class WeightedSum(nn.Module):
    """sum_i w_i * L_i: losses composed by name, e.g. ``kd+0.5*feature_mse``."""

    def __init__(self, terms: list[tuple[float, nn.Module]]) -> None:
        super().__init__()
        self.weights = [w for w, _ in terms]
        self.terms = nn.ModuleList(m for _, m in terms)
        self.needs_teacher = any(m.needs_teacher for m in self.terms)
        self.needs_features = any(m.needs_features for m in self.terms)

    def forward(self, logits, targets, teacher=None, features=None):  # noqa: ANN001, ANN201
        return sum(w * m(logits, targets, teacher, features) for w, m in zip(self.weights, self.terms))


def parse_loss_spec(spec: str) -> list[tuple[float, str]]:
    """'kd+0.5*feature_mse' -> [(1.0, 'kd'), (0.5, 'feature_mse')]; names checked."""
    terms = []
    for part in spec.split("+"):
        m = _TERM.match(part)
        if not m:
            raise DistillnasError(f"bad loss term {part!r} in {spec!r}; write e.g. 'kd' or 'kd+0.5*feature_mse'")
        LOSSES.get(m.group(2))
        terms.append((float(m.group(1) or 1.0), m.group(2)))
    return terms


def build_loss(spec: str, temperature: float = 4.0, kd_weight: float = 0.9,
               student_dim: int = 0, teacher_dim: int = 0) -> WeightedSum:
    """The weighted sum a loss spec names, each term built from one typed section."""
    cfg = validate(LossConfig, {"name": spec, "temperature": temperature, "kd_weight": kd_weight})
    return WeightedSum([(w, LOSSES.get(name)(cfg, student_dim, teacher_dim)) for w, name in parse_loss_spec(spec)])
