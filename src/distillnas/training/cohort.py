"""DML's pieces (Zhang et al., CVPR 2018): peers behind one module, and the mutual loss.

`train_student(cohort=K)` wraps K peers in a `Cohort` and the loss in `MutualLoss`, so `fit`
trains them together without knowing it (schemes.py has the scheme itself).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class Cohort(nn.Module):
    """DML's peers behind one module: all of them in training (stacked logits), the first in eval."""

    def __init__(self, peers: list[nn.Module]) -> None:
        super().__init__()
        self.peers = nn.ModuleList(peers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return torch.stack([p(x) for p in self.peers])  # (K, B, C)
        return self.peers[0](x)


class MutualLoss(nn.Module):
    """sum_i [ base(s_i) + KL(mean_{j != i} softmax(s_j) || softmax(s_i)) ] (DML)."""

    needs_features = False

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.base = base
        self.needs_teacher = base.needs_teacher

    def forward(self, logits, targets, teacher=None, features=None):  # noqa: ANN001, ANN201
        probs = F.softmax(logits.detach(), -1)
        k = len(logits)
        total = logits.new_zeros(())
        for i in range(k):
            others = (probs.sum(0) - probs[i]) / (k - 1)
            mutual = F.kl_div(F.log_softmax(logits[i], -1), others, reduction="batchmean")
            total = total + self.base(logits[i], targets, teacher, None) + mutual
        return total
