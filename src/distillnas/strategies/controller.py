"""The LSTM policy shared by the RL controllers (AKD's PPO, KDAS/ENAS's REINFORCE).

One categorical decision per step; the input of the next step is the embedding of this
choice; decisions of one kind share an embedding table and an output head. Optional: a
tanh-squashed logit range (ENAS: c * tanh(logits), c = 1.5) and a critic head (PPO).

Wiring decisions whose space names their source (Decision.source: the decision that chose
the source layer) are scored by attention over earlier layers, as ENAS's controller does:
    q_t = v . tanh(W_anchor h_src + W_query h_t),   logits = (-q_t, q_t)
where h_src is the LSTM output at the source layer's decision (a learned vector for a fixed
input such as a backbone stage's output), so "connect layer k to layer i" depends on what
was chosen for layer i rather than on one shared head per position.

Fresh sampling (ControllerStrategy, `fresh`): the search loop pays only for archs it has not
evaluated, and a told arch's reward is already known, so a batch slot spent on a repeat buys
nothing. Each slot takes the first of `tries` policy samples that is neither told nor already
in the batch (`repeat: resample`; a sample of the policy restricted to untold archs, the
sampling-without-replacement view of Kool et al., 2019, "Estimating gradients for discrete
random variables by sampling without replacement"); if all are taken, the untold arch nearest
the policy's sample (`arch.nearest_untold`: a one-step neighbour, the local move TPE's repeats
take, else the next ring out); only once the whole space is told the repeat itself. With
`repeat: neighbour` a sample that repeats a told arch becomes the untold arch nearest it at
once, as TPE's do: the policy's mass on a told arch says "here", and its closest untold arch is
what that region has left to teach. Measured (PPOSettings.repeat, ReinforceSettings.repeat):
no different for PPO; for REINFORCE faster on DisWOT s1's KD column but worse at learning a
choice that depends on an earlier one (the archs told are the mode's neighbours, not the
policy's samples, so the policy gradient is biased); neither controller defaults to it. On DisWOT
s1 (tuning seeds 0-39, bench/strategies_diswot.py), without fresh sampling a controller
that learns fast collapses onto a near-best arch and repeats it until the search ends as
converged - which is why learning rates had to stay low - and with it the same fast learning
keeps paying for new archs around the mode. Under weight sharing the same arch scores
differently as the weights train (Evaluator.reuse_repeats false): the search loop calls
rescore_repeats() and the controller samples its policy as it is.

Initialisation (`init_range`): ENAS draws every controller weight uniformly in [-0.1, 0.1].
PyTorch's defaults draw the choice embeddings from N(0, 1), so the LSTM's state soon depends
strongly on the choices before it and what one decision learns hardly carries to another of
its kind; with small embeddings the shared head starts as a prior over options that every
decision of the kind reads. On DisWOT s1 that is what lets one batch teach "deep stages are
better" across all three stages (PPOSettings.init_range has the numbers).

Elite imitation (`elite`, `elite_weight`): beside its policy-gradient loss a controller also
maximises the log-likelihood of the `elite` best archs told so far, weighted by
`elite_weight` - the priority-queue term of Abolafia et al., 2018 ("Neural program synthesis
with priority queue training", sec. 3: the top-K programs seen so far as a supervised target,
added to the RL objective). A policy gradient learns only from the current batch; with tens
of paid evaluations most of what was learnt is in archs told batches ago, and the term keeps
the best of them in the policy's mode, where fresh sampling then pays for their untold
neighbours. It needs rewards that stay comparable, so rescore_repeats() (shared weights that
train) turns it off along with fresh sampling.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn as nn

from ..arch import nearest_untold
from .base import Strategy, Arch


@dataclass
class PolicyOutput:
    """What one controller rollout gives: the tokens, their log-probabilities, entropies and values."""
    tokens: torch.Tensor  # (B, D)
    log_probs: torch.Tensor  # (B, D)
    entropies: torch.Tensor  # (B, D)
    values: torch.Tensor | None  # (B, D): the critic's estimate before each decision
    probs: list[torch.Tensor]  # per step (B, size)


class LSTMPolicy(nn.Module):
    """The LSTM controller (ENAS / AKD): one decision per step, each with its own head."""
    def __init__(self, sizes: list[int], kinds: list[str], hidden: int, tanh_constant: float | None = None,
                 critic: bool = False, sources: Sequence[int | None] | None = None) -> None:
        super().__init__()
        self.sizes, self.tanh_constant = sizes, tanh_constant
        head_kinds = sorted(set(kinds))
        self.kind_index = [head_kinds.index(k) for k in kinds]
        width = {k: max(s for s, kk in zip(sizes, kinds) if kk == k) for k in head_kinds}
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.cell = nn.LSTMCell(hidden, hidden)
        self.embed = nn.ModuleList(nn.Embedding(width[k], hidden) for k in head_kinds)
        self.heads = nn.ModuleList(nn.Linear(hidden, width[k]) for k in head_kinds)
        self.critic = nn.Linear(hidden, 1) if critic else None
        # attention for wiring decisions (ENAS): only where the space names sources
        self.attend = [k == "wire" and sources is not None for k in kinds]
        if any(self.attend):
            self.sources = list(sources)  # type: ignore[arg-type]
            self.anchor_proj = nn.Linear(hidden, hidden, bias=False)
            self.query_proj = nn.Linear(hidden, hidden, bias=False)
            self.attn_v = nn.Linear(hidden, 1, bias=False)
            self.fixed_anchor = nn.Parameter(torch.zeros(1, hidden))

    def _logits(self, t: int, h: torch.Tensor, past: list[torch.Tensor]) -> torch.Tensor:
        """Step t's logits: its kind's head, or attention to its wiring source."""
        if self.attend[t]:
            src = self.sources[t]
            anchor = past[src] if src is not None else self.fixed_anchor.expand_as(h)
            q = self.attn_v(torch.tanh(self.anchor_proj(anchor) + self.query_proj(h)))
            logits = torch.cat([-q, q], 1)
        else:
            logits = self.heads[self.kind_index[t]](h)[:, : self.sizes[t]]
        return self.tanh_constant * torch.tanh(logits) if self.tanh_constant is not None else logits

    def forward(self, batch: int, tokens: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> PolicyOutput:
        """Sample (tokens None) or score the given tokens (B, D)."""
        x = self.start.expand(batch, -1)
        h = c = torch.zeros_like(x)
        out, logps, ents, values, probs, past = [], [], [], [], [], []
        for t, k in enumerate(self.kind_index):
            h, c = self.cell(x, (h, c))
            past.append(h)
            logits = self._logits(t, h, past)
            dist = torch.distributions.Categorical(logits=logits)
            a = torch.multinomial(dist.probs, 1, generator=generator).squeeze(1) if tokens is None else tokens[:, t]
            out.append(a)
            logps.append(dist.log_prob(a))
            ents.append(dist.entropy())
            probs.append(dist.probs)
            if self.critic is not None:
                values.append(self.critic(h).squeeze(1))
            x = self.embed[k](a)
        stack = lambda v: torch.stack(v, 1)  # noqa: E731
        return PolicyOutput(stack(out), stack(logps), stack(ents), stack(values) if values else None, probs)

    @torch.no_grad()
    def greedy_probs(self) -> list[list[float]]:
        """Choice probabilities along the most likely path (for reports and tests)."""
        x = self.start
        h = c = torch.zeros_like(x)
        out, past = [], []
        for t, k in enumerate(self.kind_index):
            h, c = self.cell(x, (h, c))
            past.append(h)
            p = torch.softmax(self._logits(t, h, past), -1)[0]
            out.append(p.tolist())
            x = self.embed[k](p.argmax().view(1))
        return out


class RunningStats:
    """Mean and variance of every reward seen (Welford / Chan et al.'s parallel update), so a
    controller sees rewards on a stable scale however small their spread or far their drift."""

    def __init__(self) -> None:
        self.count, self.mean, self.m2 = 0, 0.0, 0.0

    def update(self, x: torch.Tensor) -> None:
        n, mean = len(x), float(x.mean())
        m2 = float(((x - mean) ** 2).sum())
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta ** 2 * self.count * n / total
        self.count = total

    @property
    def std(self) -> float:
        """The running standard deviation (rewards are normalised by it)."""
        return (self.m2 / (self.count - 1)) ** 0.5 if self.count > 1 else 0.0

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """A reward normalised by the running mean and standard deviation."""
        return (x - self.mean) / (self.std + 1e-8) if self.std > 0 else x - self.mean

    def state_dict(self) -> dict[str, float]:
        return {"count": self.count, "mean": self.mean, "m2": self.m2}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.count, self.mean, self.m2 = int(state["count"]), float(state["mean"]), float(state["m2"])


class ControllerStrategy(Strategy):
    """A strategy driven by an LSTMPolicy and Adam; subclasses write tell() and call remember()."""

    def __init__(self, sizes: Sequence[int], kinds: Sequence[str] | None, seed: int, hidden: int, lr: float,
                 tanh_constant: float | None = None, critic: bool = False,
                 sources: Sequence[int | None] | None = None, ordered: Sequence[bool] | None = None,
                 fresh: bool = True, repeat: str = "resample", tries: int = 20, elite: int = 0,
                 elite_weight: float = 0.0, init_range: float = 0.0) -> None:
        super().__init__(sizes, kinds, seed)
        torch.manual_seed(seed)
        self.net = LSTMPolicy(self.sizes, self.kinds, hidden, tanh_constant, critic, sources)
        if init_range:  # ENAS initialises the controller uniformly in [-0.1, 0.1] (module docstring)
            for p in self.net.parameters():
                nn.init.uniform_(p, -init_range, init_range)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.gen = torch.Generator().manual_seed(seed)
        self.ordered = list(ordered) if ordered is not None else None
        self.fresh, self.repeat, self.tries = fresh, repeat, tries
        self.elite, self.elite_weight = elite, elite_weight
        self.scores: dict[Arch, float] = {}  # the latest reward of every arch told

    @torch.no_grad()
    def ask(self, n: int) -> list[Arch]:
        if not self.fresh:
            return self.sample(n)
        if self.repeat == "resample":
            return self._ask_resampled(n)
        out: list[Arch] = []
        for a in self.sample(n):  # a repeat becomes the nearest untold arch (module docstring)
            out.append(self._nearest(a, out) if a in self.scores or a in out else a)
        return out

    def _ask_resampled(self, n: int) -> list[Arch]:
        """The policy restricted to untold archs: the first untold of n x tries samples."""
        samples = self.sample(n * self.tries)
        out: list[Arch] = []
        for a in samples:
            if a not in self.scores and a not in out:
                out.append(a)
                if len(out) == n:
                    return out
        for a in samples[: n - len(out)]:  # all tries taken: the nearest untold arch, else the repeat
            out.append(self._nearest(a, out))
        return out

    def _nearest(self, a: Arch, batch: list[Arch]) -> Arch:
        """The untold arch nearest `a` (not in the batch either), or `a` once every arch is told."""
        near = nearest_untold(a, self.sizes, self.ordered, set(self.scores).union(batch), self.rng)
        return a if near is None else near

    @torch.no_grad()
    def sample(self, n: int) -> list[Arch]:
        """n archs drawn from the policy as it is."""
        return [tuple(int(t) for t in row) for row in self.net(n, generator=self.gen).tokens]

    def remember(self, archs: Sequence[Arch], rewards: Sequence[float]) -> None:
        """Note told archs and their rewards (fresh sampling avoids them; the elite imitates)."""
        self.scores.update((tuple(int(t) for t in a), float(r)) for a, r in zip(archs, rewards))

    def elite_loss(self) -> torch.Tensor | float:
        """-elite_weight x the mean log-likelihood of the best archs told so far (module docstring)."""
        known = [a for a, r in self.scores.items() if r > float("-inf")]
        if not self.elite or not self.elite_weight or not known:
            return 0.0
        top = sorted(known, key=self.scores.__getitem__, reverse=True)[: self.elite]
        return -self.elite_weight * self.net(len(top), self.tokens(top)).log_probs.sum(1).mean()

    def rescore_repeats(self) -> None:
        self.fresh = False
        self.elite_weight = 0.0  # rewards of a training supernet are not comparable across time

    def probabilities(self) -> list[list[float]]:
        """Each decision's option probabilities under the current policy (the report's entropy)."""
        return self.net.greedy_probs()

    @torch.no_grad()
    def stats(self) -> dict[str, float]:
        """Mean entropy per decision (nats) along 64 sampled paths; its own generator, so the
        search's sampling is untouched. Falls as the controller converges."""
        out = self.net(64, generator=torch.Generator().manual_seed(self.updates))
        return {"entropy": float(out.entropies.mean())}

    def tokens(self, archs: Sequence[Arch]) -> torch.Tensor:
        """The archs as an (archs, decisions) tensor of option indices (what the policy scores)."""
        return torch.tensor([list(a) for a in archs], dtype=torch.long)

    def _state(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict(), "gen": self.gen.get_state(),
                "scores": [[list(a), r] for a, r in sorted(self.scores.items())]}

    def _load(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.gen.set_state(state["gen"])
        # "told" (archs only) before elite imitation: never imitated; neither before fresh sampling
        old = [[a, float("-inf")] for a in state.get("told", [])]
        self.scores = {tuple(int(t) for t in a): float(r) for a, r in state.get("scores", old)}
