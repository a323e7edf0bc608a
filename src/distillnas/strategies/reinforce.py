"""The ENAS controller (Pham et al., 2018) used by KDAS: an LSTM trained with REINFORCE.

Sampling: one decision per step with logits = c * tanh(W h), c = 1.5 (tanh constant);
wiring decisions (the add-on skip inputs) are scored by attention to their source layer
(strategies.controller). Their probabilities p of "on" are pulled toward a target density q
by a KL penalty. Update, per batch of sampled archs, as the ENAS code does it (macro search:
baseline decay 0.99, entropy weight 1e-4, skip target 0.4, skip weight 0.8):
    R'_k = R_k + w_e * H_k                              (entropy bonus)
    A_k  = (R'_k - b) / sigma;  b <- decay * b + (1 - decay) * R'_k   per sample, in order
    L    = -mean_k A_k * log pi(a_k) + w_s * mean_k sum_wire KL(p || q)
minimised with Adam (lr: see ReinforceSettings). The baseline moves once per *sample*
(ENAS's controller steps are single samples, so decay 0.99 averages ~100 samples); updating
it once per batch of 8 averaged ~800, and under a supernet whose accuracy climbs, R - b was
then mostly drift. ENAS starts b at 0; here the average is bias-corrected as Adam corrects
its moments (Kingma & Ba, 2015, sec. 3): b = EMA / (1 - decay^n) after n samples, i.e. the
plain mean of the rewards so far until ~1/(1 - decay) have been seen, ENAS's average after.
(Starting b at the first reward, as before, left a 64-trial search's baseline at that one
reward: every advantage was "better or worse than the first arch".) KL(p || q) summed over
the wiring decisions is ENAS's penalty; KL(q || p) averaged (used before) is weaker and
pulls the other way where p is far from q.

sigma is the running std of every reward seen (not in ENAS, whose rewards spread ~0.1): it
puts the policy term in units the fixed skip and entropy weights can be compared with. With
rewards that spread 0.01 (a supernet's or a proxy's accuracies) the unscaled density penalty
outweighed them and wiring stayed at chance on a test where it is learnable. The baseline is
kept in reward units and only the advantage is divided, so a changing sigma adds no drift
(dividing the rewards themselves did, and halved what a bandit learnt).

Adam keeps PyTorch's defaults (beta1 0.9, eps 1e-8), not ENAS's (beta1 0, eps 1e-3: its
get_train_ops). Measured on DisWOT s1 (seeds 2000-2399, median evaluations to the KD / CE
best): ENAS's pair 19 / 17 against 18 / 14 (CE p = 0.03); eps 1e-3 alone 19 / 17, beta1 0
alone 18 / 14. eps 1e-3 damps the first steps of parameters whose gradients are below it,
which costs a search of tens of steps and not one of ENAS's ~10^5.
"""
from __future__ import annotations

from typing import Any, Literal, Sequence

import torch
import torch.nn as nn
from pydantic import Field

from ..section import Section
from .base import STRATEGIES, Arch, StrategySection
from .controller import ControllerStrategy, RunningStats


class ReinforceSettings(Section):
    """ENAS controller settings (the values KDAS inherits from ENAS)."""

    hidden: int = Field(64, ge=4)
    # ENAS's controller_lr is 1e-3 over ~10^5 samples; the KDAS configs keep it (the supernet
    # gives thousands of controller steps). A search of paid trials gives tens of steps: at
    # 1e-3, 8 Adam steps of a 64-trial search leave the policy where it started (DisWOT s1:
    # no better than random, p = 0.32). Without fresh sampling 1e-2 was the largest that kept
    # >= 95% of seeds on the best student (faster policies collapsed onto a near-best arch).
    # With it, 0.1 and 0.2 needed the fewest (median 17.5 / 12 and 16 / 12 evaluations to
    # the KD / CE best, 98-100% of seeds on it, against 26 / 26.5 at 1e-2; seeds 0-39, the
    # benchmark reports seeds 100-199), but 0.2 stalled on the test suite's six-decision
    # bandit (of 6 seeds, 1 never found its best in 200 asks and 2 took 92-100 evaluations)
    # where 0.05 and 0.1 found it within 45 in 6 of 6. The logits stay within
    # +-tanh_constant however large a step.
    lr: float = Field(0.1, gt=0)
    tanh_constant: float = Field(1.5, gt=0)
    entropy_weight: float = Field(1e-4, ge=0)
    skip_target: float = Field(0.4, gt=0, lt=1)  # target density of add-on skip inputs
    skip_weight: float = Field(0.8, ge=0)
    baseline_decay: float = Field(0.99, ge=0, lt=1)
    normalise: bool = True  # rewards in units of their running std (see the module docstring)
    fresh: bool = True  # ask only archs not told yet (strategies.controller: fresh sampling)
    # A sample of an arch already told: the next untold sample ("resample") or its nearest untold
    # arch ("neighbour", TPE's rule; strategies.controller). DisWOT s1, median evaluations to
    # the KD / CE best (default 18 / 14 on seeds 2000-2399, 17 / 14 on the held-out 1000-1999,
    # 18 / 15 on 3000-3999): "neighbour" with the elite term on (top 1, weight 1) gave 16 / 13
    # (two-sided p 2e-4 / 0.08), 16 / 13 (p 7e-5 / 0.03) and 17 / 14 (p 3e-4 / 0.09), and the
    # same regret on the mnist5k tables (after 50 / 100 / 200, 30 seeds, p 0.21-0.52); without
    # the elite term 17 / 15, 17 / 15 (CE p 0.016, slower) and 17 / 16. It is not the default
    # because the pair doubled the bandit seeds (tests/test_strategies.py, 30 seeds) whose
    # policy ends locked on a wrong option, 9 of 30 against 4 of 30: at lr 0.1 the tanh-bounded
    # logits saturate within a few batches, their gradient vanishes, and imitating an early best
    # arch gets them there sooner (Adam's beta2 0.9-0.999 made no difference). The searches
    # themselves found the bandit's optimum as fast (median 19 asks either way).
    repeat: Literal["neighbour", "resample"] = "resample"
    elite: int = Field(0, ge=0)  # imitate the best archs told so far (strategies.controller; off: see PPO's)
    elite_weight: float = Field(0.0, ge=0)


class ReinforceConfig(StrategySection):
    name: Literal["reinforce"] = "reinforce"
    reinforce: ReinforceSettings = ReinforceSettings()


class ReinforceStrategy(ControllerStrategy):
    def __init__(self, sizes: Sequence[int], kinds: Sequence[str] | None = None, seed: int = 0,
                 config: ReinforceSettings | None = None, sources: Sequence[int | None] | None = None,
                 ordered: Sequence[bool] | None = None) -> None:
        self.cfg = config or ReinforceSettings()
        super().__init__(sizes, kinds, seed, self.cfg.hidden, self.cfg.lr, tanh_constant=self.cfg.tanh_constant,
                         sources=sources, ordered=ordered, fresh=self.cfg.fresh, repeat=self.cfg.repeat,
                         elite=self.cfg.elite, elite_weight=self.cfg.elite_weight)
        for p in self.net.parameters():  # ENAS initialises the controller uniformly in [-0.1, 0.1]
            nn.init.uniform_(p, -0.1, 0.1)
        self.wire = [t for t, k in enumerate(self.kinds) if k == "wire"]
        self.ema, self.seen = 0.0, 0  # the baseline's running average and how many rewards it holds
        self.reward_stats = RunningStats()

    def advantages(self, rewards: torch.Tensor) -> torch.Tensor:
        """R - b with the baseline moved after each sample (ENAS), bias-corrected (the docstring)."""
        d, out = self.cfg.baseline_decay, []
        for r in rewards.tolist():
            out.append(r - self.baseline if self.seen else 0.0)
            self.ema = d * self.ema + (1 - d) * r
            self.seen += 1
        return torch.tensor(out, dtype=torch.float32)

    @property
    def baseline(self) -> float | None:
        """The baseline the next reward is compared with (None before the first)."""
        return self.ema / (1 - self.cfg.baseline_decay ** self.seen) if self.seen else None

    def tell(self, archs: Sequence[Arch], rewards: Sequence[float]) -> None:
        self.remember(archs, rewards)
        out = self.net(len(archs), self.tokens(archs))
        raw = torch.tensor(list(rewards), dtype=torch.float64)
        self.reward_stats.update(raw)
        scale = self.reward_stats.std if self.cfg.normalise and self.reward_stats.std > 0 else 1.0
        r = raw.float() + self.cfg.entropy_weight * out.entropies.sum(1).detach()
        loss = -(self.advantages(r) / scale * out.log_probs.sum(1)).mean() + self.elite_loss()
        if self.wire:
            q = self.cfg.skip_target
            p = torch.stack([out.probs[t][:, 1] for t in self.wire], 1).clamp(1e-6, 1 - 1e-6)
            kl = p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))
            loss = loss + self.cfg.skip_weight * kl.sum(1).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.updates += 1

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "ema": self.ema, "seen": self.seen, "stats": self.reward_stats.state_dict()}

    def _load(self, state: dict[str, Any]) -> None:
        super()._load(state)
        self.ema, self.seen = float(state["ema"]), int(state["seen"])
        self.reward_stats.load_state_dict(state["stats"])


@STRATEGIES.register("reinforce")
def _build(sizes: list[int], kinds: list[str], cfg: ReinforceConfig, target: float,
            sources: list[int | None], ordered: list[bool]) -> ReinforceStrategy:
    return ReinforceStrategy(sizes, kinds, cfg.seed, cfg.reinforce, sources, ordered)
