"""The baseline every strategy must beat: uniform random sampling."""
from __future__ import annotations

from typing import Literal, Sequence

from .base import STRATEGIES, Arch, Strategy, StrategySection


class RandomConfig(StrategySection):
    """The `random` strategy's section (uniform sampling: the baseline)."""
    name: Literal["random"] = "random"


class RandomSearch(Strategy):
    """Every arch drawn uniformly; tell() only counts."""

    def ask(self, n: int) -> list[Arch]:
        return [self.random_arch() for _ in range(n)]

    def tell(self, archs: Sequence[Arch], rewards: Sequence[float]) -> None:
        self.updates += 1


@STRATEGIES.register("random", 'uniform random sampling, the baseline every strategy must beat')
def _build(sizes: list[int], kinds: list[str], cfg: RandomConfig, target: float,
            sources: list[int | None], ordered: list[bool]) -> RandomSearch:
    return RandomSearch(sizes, kinds, cfg.seed)
