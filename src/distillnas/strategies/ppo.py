"""AKD's controller: an LSTM actor-critic trained with PPO (Schulman et al., 2017).

The LSTM emits one categorical decision per search option, in order; the input at each step
is the embedding of the previous choice. Decisions of the same type (op, kernel, ...) share
an actor head; a critic head estimates the reward from the state before each decision.
Update, once per batch of sampled archs with rewards R:
    A_t = normalise(R - V_t)
    L = -mean(min(r_t A_t, clip(r_t, 1-eps, 1+eps) A_t)) + c_v mean((V_t - R)^2) - c_e mean(H_t)
with r_t = pi(a_t | s_t) / pi_old(a_t | s_t), for several epochs over the batch.
pi_old is the policy that sampled the batch (the one before the update), recomputed in
tell() from the tokens, so a resumed run needs no per-sample bookkeeping.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn
from ..config import PPOConfig
from .base import Strategy, Tokens


class Controller(nn.Module):
    def __init__(self, sizes: list[int], kinds: list[str], hidden: int) -> None:
        super().__init__()
        self.sizes, self.kinds = sizes, kinds
        head_kinds = sorted(set(kinds))
        self.kind_index = [head_kinds.index(k) for k in kinds]
        per_kind = {k: max(s for s, kk in zip(sizes, kinds) if kk == k) for k in head_kinds}
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.embed = nn.ModuleList(nn.Embedding(per_kind[k], hidden) for k in head_kinds)
        self.actor = nn.ModuleList(nn.Linear(hidden, per_kind[k]) for k in head_kinds)
        self.critic = nn.Linear(hidden, 1)
        self.cell = nn.LSTMCell(hidden, hidden)

    def forward(self, batch: int, tokens: torch.Tensor | None = None, generator: torch.Generator | None = None):
        """Sample (tokens None) or score given tokens (B, D): (tokens, log_probs, entropies, values), each (B, D)."""
        x = self.start.expand(batch, -1)
        h = c = torch.zeros_like(x)
        out_tokens, logps, ents, values = [], [], [], []
        for t, (size, k) in enumerate(zip(self.sizes, self.kind_index)):
            h, c = self.cell(x, (h, c))
            logits = self.actor[k](h)[:, :size]
            dist = torch.distributions.Categorical(logits=logits)
            if tokens is None:
                a = torch.multinomial(dist.probs, 1, generator=generator).squeeze(1)
            else:
                a = tokens[:, t]
            out_tokens.append(a)
            logps.append(dist.log_prob(a))
            ents.append(dist.entropy())
            values.append(self.critic(h).squeeze(1))
            x = self.embed[k](a)
        return tuple(torch.stack(v, 1) for v in (out_tokens, logps, ents, values))


class PPOStrategy(Strategy):
    def __init__(self, sizes: Sequence[int], kinds: Sequence[str] | None = None, seed: int = 0,
                 config: PPOConfig | None = None) -> None:
        super().__init__(sizes, kinds, seed)
        self.cfg = config or PPOConfig()
        torch.manual_seed(seed)
        self.net = Controller(self.sizes, self.kinds, self.cfg.hidden)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=self.cfg.lr)
        self.gen = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def ask(self, n: int) -> list[Tokens]:
        tokens, *_ = self.net(n, generator=self.gen)
        return [tuple(int(t) for t in row) for row in tokens]

    def tell(self, archs: Sequence[Tokens], rewards: Sequence[float]) -> None:
        tokens = torch.tensor([list(a) for a in archs], dtype=torch.long)
        r = torch.tensor(list(rewards), dtype=torch.float32).unsqueeze(1)
        with torch.no_grad():
            _, old_logp, _, old_v = self.net(len(archs), tokens)
            adv = r - old_v
            adv = (adv - adv.mean()) / (adv.std() + 1e-8) if adv.numel() > 1 else adv
        for _ in range(self.cfg.epochs):
            _, logp, ent, v = self.net(len(archs), tokens)
            ratio = (logp - old_logp).exp()
            clipped = ratio.clamp(1 - self.cfg.clip, 1 + self.cfg.clip)
            policy = -torch.min(ratio * adv, clipped * adv).mean()
            loss = policy + self.cfg.value_coef * (v - r).pow(2).mean() - self.cfg.entropy_coef * ent.mean()
            self.opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.net.parameters(), self.cfg.max_grad_norm)
            self.opt.step()
        self.updates += 1

    def probabilities(self) -> list[list[float]]:
        """Greedy-path choice probabilities per decision (for reports and tests)."""
        with torch.no_grad():
            x = self.net.start
            h = c = torch.zeros_like(x)
            out = []
            for size, k in zip(self.net.sizes, self.net.kind_index):
                h, c = self.net.cell(x, (h, c))
                p = torch.softmax(self.net.actor[k](h)[:, :size], -1)[0]
                out.append(p.tolist())
                x = self.net.embed[k](p.argmax().view(1))
        return out

    def _state(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict(), "gen": self.gen.get_state()}

    def _load(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.gen.set_state(state["gen"])
