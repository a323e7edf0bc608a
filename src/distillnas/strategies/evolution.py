"""Regularized (aging) evolution (Real et al., 2019)."""
from __future__ import annotations

from collections import deque
from typing import Any, Literal, Sequence

from pydantic import Field

from ..arch import mutate_arch
from ..section import Section
from .base import STRATEGIES, Arch, Strategy, StrategySection


class EvolutionSettings(Section):
    # P: archs kept alive. The first P asks are random, so P is a share of the budget: Real et
    # al. keep 100 of 20,000 models; 20 (the old default) spent about a third of a 64-evaluation
    # search at random. DisWOT s1 (bench/strategies_diswot.py, tuning seeds 0-39, median paid
    # evaluations to the best, KD / CE; random search 32.5 / 28): P 20: 23 / 23, 16: 18.5 /
    # 21.5, 12: 19 / 19.5, 10: 19 / 18, 8 (one default batch): 13.5 / 20, 6: 13.5 / 17.
    """Regularised evolution's settings: population, tournament sample, mutation."""
    population: int = Field(8, ge=2, le=10_000)
    # S: tournament size. With P one batch, every batch replaces the whole population, so S = P
    # (each child mutates the best of the last batch, which then dies of age) is a (1, lambda)
    # evolution strategy (Beyer & Schwefel, 2002): comma selection, no elite that outlives its
    # lucky reward, where S < P only adds a chance of mutating a worse member. DisWOT s1, median
    # paid evaluations to the best, KD / CE (seeds 2000-2399 / held-out 1000-1999; random 32 / 34
    # and 34 / 33): S 3: 16 / 21, 5 (the old default): 13 / 17 and 14 / 17, 6: 13 / 16, 8: 12 / 14
    # and 12 / 15 (p 2e-14 / 3e-22 against S 5). On the 1,296-arch mnist5k tables (30 seeds,
    # regret after 50 / 100 / 200) S 8 matched S 5: KD-ResNet8 0.232 / 0.143 / 0.096 against
    # 0.219 / 0.153 / 0.106, KD-MobileNetV2 0.181 / 0.061 / 0.025 against 0.186 / 0.083 / 0.000,
    # held-out seed scores 96.42 / 96.25 against 96.46 / 96.34 (stds 0.3-0.7).
    sample: int = Field(8, ge=1, le=10_000)
    ordinal: bool = True  # an ordered decision mutates one step (a neighbouring depth); false: to any option


class EvolutionConfig(StrategySection):
    """The `evolution` strategy's section."""
    name: Literal["evolution"] = "evolution"
    evolution: EvolutionSettings = EvolutionSettings()


class RegularizedEvolution(Strategy):
    """Random until the population is full; then each child mutates one decision of the best
    of S random members (an ordered one by one step), and the oldest member dies.

    A child that repeats a told arch is asked anyway (free in the search loop) and joins the
    population with its known reward. Asking only untold children, as the controllers' fresh
    sampling does, was measured and dropped: the repeats are what keep good archs alive in
    an aging population (at P 8, DisWOT held-out seeds 100-199: 17 / 19 fresh against 13 / 17,
    Mann-Whitney p 0.003 on KD)."""

    def __init__(self, sizes: Sequence[int], kinds: Sequence[str] | None = None, seed: int = 0,
                 config: EvolutionSettings | None = None, ordered: Sequence[bool] | None = None) -> None:
        super().__init__(sizes, kinds, seed)
        self.cfg = config or EvolutionSettings()
        self.ordered = list(ordered) if ordered is not None and self.cfg.ordinal else None
        self.population: deque[tuple[Arch, float]] = deque()

    def _child(self) -> Arch:
        if len(self.population) < self.cfg.population:
            return self.random_arch()
        picks = self.rng.choice(len(self.population), size=min(self.cfg.sample, len(self.population)), replace=False)
        parent = max((self.population[int(i)] for i in picks), key=lambda m: m[1])[0]
        return mutate_arch(parent, self.sizes, self.rng, self.ordered)

    def ask(self, n: int) -> list[Arch]:
        return [self._child() for _ in range(n)]

    def tell(self, archs: Sequence[Arch], rewards: Sequence[float]) -> None:
        for a, r in zip(archs, rewards):
            self.population.append((tuple(a), float(r)))
            if len(self.population) > self.cfg.population:
                self.population.popleft()
        self.updates += 1

    def _state(self) -> dict[str, Any]:
        return {"population": [[list(a), r] for a, r in self.population]}

    def _load(self, state: dict[str, Any]) -> None:
        self.population = deque((tuple(int(t) for t in a), float(r)) for a, r in state["population"])


@STRATEGIES.register("evolution", "regularized evolution (Real et al. 2019): mutate the population's best, drop the oldest")
def _build(sizes: list[int], kinds: list[str], cfg: EvolutionConfig, target: float,
            sources: list[int | None], ordered: list[bool]) -> RegularizedEvolution:
    return RegularizedEvolution(sizes, kinds, cfg.seed, cfg.evolution, ordered)
