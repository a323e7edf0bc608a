"""The strategy protocol: ask for token sequences, be told their rewards.

Strategies see only the decisions' sizes (and kinds, for controllers that share a head per
decision type), never modules or data. They are seeded, and their whole state - network
weights, optimiser, random generators, populations - round-trips through state_dict.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from ..arch import Arch, sample_arch
from ..registry import Registry
from ..section import Section


class Strategy(ABC):
    # what the search loop tells it: 1 = a scalar reward, 2 = (accuracy, cost) for a Pareto front
    """A search strategy: asks for archs (token lists) and is told their rewards; never sees a model."""
    objectives: ClassVar[int] = 1

    def __init__(self, sizes: Sequence[int], kinds: Sequence[str] | None = None, seed: int = 0) -> None:
        self.sizes = [int(s) for s in sizes]
        self.kinds = list(kinds) if kinds is not None else ["choice"] * len(self.sizes)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.updates = 0  # number of tell() calls: how far the strategy has come

    @abstractmethod
    def ask(self, n: int) -> list[Arch]:
        """n architectures to evaluate next."""

    @abstractmethod
    def tell(self, archs: Sequence[Arch], rewards: Sequence[float]) -> None:
        """Learn from the rewards of archs this strategy asked for."""

    def stats(self) -> dict[str, float]:
        """Numbers about the strategy's state worth plotting along the search (e.g. a
        controller's entropy); none by default."""
        return {}

    def rescore_repeats(self) -> None:
        """The evaluator scores an arch anew each time (shared weights that train): a told
        arch is worth asking again, so a strategy that steers away from told archs stops."""
        return None

    def random_arch(self) -> Arch:
        """A uniformly random arch of this strategy's space."""
        return sample_arch(self.sizes, self.rng)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume the strategy exactly (saved after every ask and tell)."""
        return {"rng": self.rng.bit_generator.state, "updates": self.updates, **self._state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved by `state_dict`."""
        self.rng.bit_generator.state = state["rng"]
        self.updates = int(state["updates"])
        self._load(state)

    def _state(self) -> dict[str, Any]:
        return {}

    def _load(self, state: dict[str, Any]) -> None:
        return None


class StrategySection(Section):
    """What every strategy's config holds; each strategy's section adds its name (the union's
    tag) and its own settings, beside its code."""

    name: str  # each variant narrows it to its Literal tag
    seed: int = 0
    # what the strategy is told per arch: 1, a scalar reward; 2, (accuracy, cost); equal to its
    # built Strategy's `objectives`, so readers of a run (report, dashboard) need not build it
    objectives: ClassVar[int] = 1

    def shard(self) -> Any:
        """The part of a finite space this search covers when it is one shard of a split grid
        (its settings: `shard`, `shards`, `bounds(size)`), else None."""
        return None


# name -> factory(sizes, kinds, its own typed section, the reward's cost target, the wiring
# decisions' sources, which decisions are ordered) -> Strategy; only nsga2 uses the target (as
# its hard constraint), only the LSTM controllers the sources (attention over earlier layers),
# only the model-based strategies and evolution the order (a numeric kernel, a one-step move).
StrategyFactory = Callable[[list[int], list[str], Any, float, list[int | None], list[bool]], Strategy]
STRATEGIES: Registry[StrategyFactory] = Registry("strategy")


def build_strategy(cfg: StrategySection, sizes: Sequence[int], kinds: Sequence[str], target: float = 1.0,
                   sources: Sequence[int | None] | None = None, ordered: Sequence[bool] | None = None) -> Strategy:
    """The strategy named by cfg.name, built from its own section and the space's shape
    (`sources`: SearchSpace.sources, where the space has wiring decisions; `ordered`:
    SearchSpace.ordered, which decisions' options are numbers in order - none if not given)."""
    src = list(sources) if sources is not None else [None] * len(sizes)
    order = [bool(o) for o in ordered] if ordered is not None else [False] * len(sizes)
    return STRATEGIES.get(cfg.name)(list(sizes), list(kinds), cfg, target, src, order)  # type: ignore[attr-defined]
