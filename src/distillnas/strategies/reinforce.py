"""The ENAS controller (Pham et al., 2018) used by KDAS: an LSTM trained with REINFORCE.

Sampling: one decision per step; logits = c * tanh(W h) with c = 1.5 (tanh constant), the
input of the next step is the embedding of this choice. Decisions of kind "wire" (the
add-on skip inputs) are binary; their probabilities are pulled toward a target density
by a KL penalty. Update, per batch of sampled archs with rewards R_k:
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
from .base import Strategy, Tokens


class ENASController(nn.Module):
    def __init__(self, sizes: list[int], kinds: list[str], cfg: ReinforceConfig) -> None:
        super().__init__()
        self.sizes, self.kinds, self.cfg = sizes, kinds, cfg
        head_kinds = sorted(set(kinds))
        self.kind_index = [head_kinds.index(k) for k in kinds]
        width = {k: max(s for s, kk in zip(sizes, kinds) if kk == k) for k in head_kinds}
        self.start = nn.Parameter(torch.zeros(1, cfg.hidden))
        self.cell = nn.LSTMCell(cfg.hidden, cfg.hidden)
        self.embed = nn.ModuleList(nn.Embedding(width[k], cfg.hidden) for k in head_kinds)
        self.heads = nn.ModuleList(nn.Linear(cfg.hidden, width[k]) for k in head_kinds)
        for p in self.parameters():
            nn.init.uniform_(p, -0.1, 0.1)

    def forward(self, batch: int, tokens: torch.Tensor | None = None, generator: torch.Generator | None = None):
        """(tokens (B, D), summed log-prob (B,), summed entropy (B,), wire probabilities (B, W))."""
        x = self.start.expand(batch, -1)
        h = c = torch.zeros_like(x)
        out, logp, ent, wire = [], 0.0, 0.0, []
        for t, (size, k) in enumerate(zip(self.sizes, self.kind_index)):
            h, c = self.cell(x, (h, c))
            logits = self.cfg.tanh_constant * torch.tanh(self.heads[k](h)[:, :size])
            dist = torch.distributions.Categorical(logits=logits)
            a = torch.multinomial(dist.probs, 1, generator=generator).squeeze(1) if tokens is None else tokens[:, t]
            out.append(a)
            logp = logp + dist.log_prob(a)
            ent = ent + dist.entropy()
            if self.kinds[t] == "wire":
                wire.append(dist.probs[:, 1])
            x = self.embed[k](a)
        wires = torch.stack(wire, 1) if wire else torch.zeros(batch, 0)
        return torch.stack(out, 1), logp, ent, wires


class ReinforceStrategy(Strategy):
    def __init__(self, sizes: Sequence[int], kinds: Sequence[str] | None = None, seed: int = 0,
                 config: ReinforceConfig | None = None) -> None:
        super().__init__(sizes, kinds, seed)
        self.cfg = config or ReinforceConfig()
        torch.manual_seed(seed)
        self.net = ENASController(self.sizes, self.kinds, self.cfg)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=self.cfg.lr)
        self.gen = torch.Generator().manual_seed(seed)
        self.baseline: float | None = None

    @torch.no_grad()
    def ask(self, n: int) -> list[Tokens]:
        tokens, *_ = self.net(n, generator=self.gen)
        return [tuple(int(t) for t in row) for row in tokens]

    def tell(self, archs: Sequence[Tokens], rewards: Sequence[float]) -> None:
        tokens = torch.tensor([list(a) for a in archs], dtype=torch.long)
        _, logp, ent, wire = self.net(len(archs), tokens)
        r = torch.tensor(list(rewards), dtype=torch.float32) + self.cfg.entropy_weight * ent.detach()
        mean = float(r.mean())
        self.baseline = mean if self.baseline is None else \
            self.cfg.baseline_decay * self.baseline + (1 - self.cfg.baseline_decay) * mean
        loss = -((r - self.baseline) * logp).mean()
        if wire.numel():
            q, p = self.cfg.skip_target, wire.clamp(1e-6, 1 - 1e-6)
            kl = q * torch.log(q / p) + (1 - q) * torch.log((1 - q) / (1 - p))
            loss = loss + self.cfg.skip_weight * kl.mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.updates += 1

    def _state(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict(), "gen": self.gen.get_state(),
                "baseline": self.baseline}

    def _load(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.gen.set_state(state["gen"])
        self.baseline = state["baseline"]
