"""The ENAS controller (Pham et al., 2018) used by KDAS: an LSTM trained with REINFORCE.

Sampling: one decision per step with logits = c * tanh(W h), c = 1.5 (tanh constant).
Decisions of kind "wire" (the add-on skip inputs) are binary; their probabilities are
pulled toward a target density by a KL penalty. Update, per batch of sampled archs:
    R'_k = R_k + w_e * H_k                      (entropy bonus, w_e = 1e-4)
    b   <- decay * b + (1 - decay) * mean(R')    (moving-average baseline, decay 0.99)
    L    = -mean_k (R'_k - b) * log pi(a_k) + w_s * KL(q || p_wire)   (w_s = 0.8, q = 0.4)
minimised with Adam.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from ..config import ReinforceConfig
from .base import Tokens
from .controller import ControllerStrategy


class ReinforceStrategy(ControllerStrategy):
    def __init__(self, sizes: Sequence[int], kinds: Sequence[str] | None = None, seed: int = 0,
                 config: ReinforceConfig | None = None) -> None:
        self.cfg = config or ReinforceConfig()
        super().__init__(sizes, kinds, seed, self.cfg.hidden, self.cfg.lr, tanh_constant=self.cfg.tanh_constant)
        for p in self.net.parameters():  # ENAS initialises the controller uniformly in [-0.1, 0.1]
            nn.init.uniform_(p, -0.1, 0.1)
        self.wire = [t for t, k in enumerate(self.kinds) if k == "wire"]
        self.baseline: float | None = None

    def tell(self, archs: Sequence[Tokens], rewards: Sequence[float]) -> None:
        out = self.net(len(archs), self.tokens(archs))
        r = torch.tensor(list(rewards), dtype=torch.float32) + self.cfg.entropy_weight * out.entropies.sum(1).detach()
        mean = float(r.mean())
        self.baseline = mean if self.baseline is None else \
            self.cfg.baseline_decay * self.baseline + (1 - self.cfg.baseline_decay) * mean
        loss = -((r - self.baseline) * out.log_probs.sum(1)).mean()
        if self.wire:
            q = self.cfg.skip_target
            p = torch.stack([out.probs[t][:, 1] for t in self.wire], 1).clamp(1e-6, 1 - 1e-6)
            kl = q * torch.log(q / p) + (1 - q) * torch.log((1 - q) / (1 - p))
            loss = loss + self.cfg.skip_weight * kl.mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.updates += 1

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "baseline": self.baseline}

    def _load(self, state: dict[str, Any]) -> None:
        super()._load(state)
        self.baseline = state["baseline"]
