"""AKD's controller: an LSTM actor-critic trained with PPO (Schulman et al., 2017).

The policy (strategies.controller.LSTMPolicy) emits one decision per search option; a
critic head estimates the reward from the state before each decision. Update, once per
batch of sampled archs with rewards R:
    A_t = normalise(R - V_t)
    L = -mean(min(r_t A_t, clip(r_t, 1-eps, 1+eps) A_t)) + c_v mean((V_t - R)^2) - c_e mean(H_t)
with r_t = pi(a_t | s_t) / pi_old(a_t | s_t), for several epochs over the batch.
pi_old is the policy that sampled the batch (the one before the update), recomputed in
tell() from the tokens, so a resumed run needs no per-sample bookkeeping.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from ..config import PPOConfig
from .base import Tokens
from .controller import ControllerStrategy


class PPOStrategy(ControllerStrategy):
    def __init__(self, sizes: Sequence[int], kinds: Sequence[str] | None = None, seed: int = 0,
                 config: PPOConfig | None = None) -> None:
        self.cfg = config or PPOConfig()
        super().__init__(sizes, kinds, seed, self.cfg.hidden, self.cfg.lr, critic=True)

    def tell(self, archs: Sequence[Tokens], rewards: Sequence[float]) -> None:
        tokens = self.tokens(archs)
        r = torch.tensor(list(rewards), dtype=torch.float32).unsqueeze(1)
        with torch.no_grad():
            old = self.net(len(archs), tokens)
            adv = r - old.values
            adv = (adv - adv.mean()) / (adv.std() + 1e-8) if adv.numel() > 1 else adv
        for _ in range(self.cfg.epochs):
            new = self.net(len(archs), tokens)
            ratio = (new.log_probs - old.log_probs).exp()
            clipped = ratio.clamp(1 - self.cfg.clip, 1 + self.cfg.clip)
            policy = -torch.min(ratio * adv, clipped * adv).mean()
            loss = policy + self.cfg.value_coef * (new.values - r).pow(2).mean() \
                - self.cfg.entropy_coef * new.entropies.mean()
            self.opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.net.parameters(), self.cfg.max_grad_norm)
            self.opt.step()
        self.updates += 1
