"""Baselines: uniform random sampling and regularized evolution (Real et al., 2019)."""
from __future__ import annotations

from collections import deque
from typing import Any, Sequence

from ..config import EvolutionConfig
from .base import Strategy, Tokens


class RandomSearch(Strategy):
    """Every arch drawn uniformly; tell() only counts."""

    def ask(self, n: int) -> list[Tokens]:
        return [self.random_arch() for _ in range(n)]

    def tell(self, archs: Sequence[Tokens], rewards: Sequence[float]) -> None:
        self.updates += 1


class RegularizedEvolution(Strategy):
    """Aging evolution: random until the population is full; then each child mutates one
    decision of the best of S random members, and the oldest member dies."""

    def __init__(self, sizes: Sequence[int], kinds: Sequence[str] | None = None, seed: int = 0,
                 config: EvolutionConfig | None = None) -> None:
        super().__init__(sizes, kinds, seed)
        self.cfg = config or EvolutionConfig()
        self.population: deque[tuple[Tokens, float]] = deque()
        self.mutable = [i for i, s in enumerate(self.sizes) if s > 1]

    def _child(self) -> Tokens:
        if len(self.population) < self.cfg.population:
            return self.random_arch()
        picks = self.rng.choice(len(self.population), size=min(self.cfg.sample, len(self.population)), replace=False)
        parent = list(max((self.population[int(i)] for i in picks), key=lambda m: m[1])[0])
        i = int(self.rng.choice(self.mutable))
        parent[i] = int((parent[i] + self.rng.integers(1, self.sizes[i])) % self.sizes[i])
        return tuple(parent)

    def ask(self, n: int) -> list[Tokens]:
        return [self._child() for _ in range(n)]

    def tell(self, archs: Sequence[Tokens], rewards: Sequence[float]) -> None:
        for a, r in zip(archs, rewards):
            self.population.append((tuple(a), float(r)))
            if len(self.population) > self.cfg.population:
                self.population.popleft()
        self.updates += 1

    def _state(self) -> dict[str, Any]:
        return {"population": [[list(a), r] for a, r in self.population]}

    def _load(self, state: dict[str, Any]) -> None:
        self.population = deque((tuple(int(t) for t in a), float(r)) for a, r in state["population"])
