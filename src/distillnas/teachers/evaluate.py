"""Accuracy of a teacher or ensemble from its (cached) logits: members, average, oracle."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data import ImageDataset, make_views
from .base import Teacher
from .cache import TeacherCache


@dataclass
class EnsembleReport:
    """An ensemble's test accuracy: each member, the average of logits, and the oracle."""
    members: list[float]  # each member's top-1
    average: float  # top-1 of the mean logits
    oracle: float  # share of examples some member gets right
    right_counts: list[float]  # share of examples with exactly k members right, k = 0..M

    def as_dict(self) -> dict:
        return {"members": self.members, "average": self.average, "oracle": self.oracle,
                "right_counts": self.right_counts}


def ensemble_report(member_logits: torch.Tensor, labels: torch.Tensor) -> EnsembleReport:
    """member_logits (M, N, C) against labels (N,)."""
    correct = member_logits.argmax(-1) == labels.unsqueeze(0)  # (M, N)
    count = correct.sum(0)
    m = member_logits.shape[0]
    return EnsembleReport(
        members=correct.float().mean(1).tolist(),
        average=(member_logits.float().mean(0).argmax(-1) == labels).float().mean().item(),
        oracle=(count > 0).float().mean().item(),
        right_counts=[(count == k).float().mean().item() for k in range(m + 1)],
    )


def evaluate_teacher(teacher: Teacher, ds: ImageDataset, split: str, indices: torch.Tensor,
                     cache: TeacherCache | None = None) -> EnsembleReport:
    """Members', average-logit and oracle accuracy on a split, from (cached) plain-view outputs."""
    cache = cache or TeacherCache(None)
    outputs = cache.get(teacher, ds, split, indices, make_views(indices, 1, ds.pad, ds.flip, 0))
    return ensemble_report(outputs.logits[0], ds.labels[indices])
