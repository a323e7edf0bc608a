"""Exhaustive evaluation: every architecture of a (restricted) space once, in a seeded
shuffled order, through the normal search loop (store, resume, executors, progress). This is
how distillnas tabulates a space into a benchmark table (`distillnas table export`)."""
from __future__ import annotations

import math
from typing import Any, Literal, Sequence

import numpy as np
from pydantic import Field, model_validator

from ..errors import DistillnasError
from ..section import Section
from .base import STRATEGIES, Arch, Strategy, StrategySection


class GridSettings(Section):
    """The grid's settings: its size limit and which shard of it this search covers."""
    max_archs: int = Field(5000, ge=1, le=10_000_000)  # a grid over more archs is refused: restrict the space or raise this
    # Split a tabulation over runs (machines, sittings): shard i of n evaluates the i-th of n
    # contiguous blocks of the seeded order, itself a uniform random subset of the space.
    shards: int = Field(1, ge=1, le=100_000)
    shard: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _shard_in_range(self) -> "GridSettings":
        if self.shard >= self.shards:
            raise ValueError(f"strategy.grid.shard={self.shard} must be below strategy.grid.shards={self.shards} "
                             f"(shards are numbered 0..{self.shards - 1})")
        return self

    def bounds(self, size: int) -> tuple[int, int]:
        """This shard's [lo, hi) block of the seeded order over a space of `size` archs."""
        return shard_bounds(size, self.shard, self.shards)


def shard_bounds(size: int, shard: int, shards: int) -> tuple[int, int]:
    """Shard i of n: the i-th of n contiguous, near-equal blocks of positions 0..size-1."""
    return shard * size // shards, (shard + 1) * size // shards


class GridConfig(StrategySection):
    """The `grid` strategy's section (every arch once, e.g. to make a table)."""
    name: Literal["grid"] = "grid"
    grid: GridSettings = GridSettings()

    def shard(self) -> GridSettings | None:
        return self.grid if self.grid.shards > 1 else None


def decode(index: int, sizes: Sequence[int]) -> Arch:
    """The arch at `index` of the mixed-radix enumeration (last decision fastest)."""
    out = []
    for s in reversed(sizes):
        index, t = divmod(index, s)
        out.append(t)
    return tuple(reversed(out))


class GridSearch(Strategy):
    """Asks for every arch once (then starts over: repeats are free and end the search)."""

    def __init__(self, sizes: Sequence[int], kinds: Sequence[str] | None = None, seed: int = 0,
                 max_archs: int = 5000, shard: int = 0, shards: int = 1) -> None:
        super().__init__(sizes, kinds, seed)
        size = math.prod(self.sizes)
        if shards > size:
            raise DistillnasError(f"strategy.grid.shards={shards} is more than the space's {size:,} archs")
        lo, hi = shard_bounds(size, shard, shards)
        self.total = hi - lo
        if self.total > max_archs:
            raise DistillnasError(f"a grid over this space evaluates {self.total:,} archs, more than "
                                  f"strategy.grid.max_archs={max_archs:,}; restrict the space (space.restrict), "
                                  "split it (strategy.grid.shards) or raise the limit to confirm")
        self.order = np.random.default_rng(seed).permutation(size)[lo:hi]
        self.pos = 0

    def ask(self, n: int) -> list[Arch]:
        out = [decode(int(self.order[(self.pos + i) % self.total]), self.sizes) for i in range(n)]
        self.pos += n
        return out

    def tell(self, archs: Sequence[Arch], rewards: Sequence[float]) -> None:
        self.updates += 1

    def _state(self) -> dict[str, Any]:
        return {"pos": self.pos}

    def _load(self, state: dict[str, Any]) -> None:
        self.pos = int(state["pos"])


@STRATEGIES.register("grid", 'every arch of a finite space once, in order (benchmark tables)')
def _build(sizes: list[int], kinds: list[str], cfg: GridConfig, target: float,
            sources: list[int | None], ordered: list[bool]) -> GridSearch:
    return GridSearch(sizes, kinds, cfg.seed, cfg.grid.max_archs, cfg.grid.shard, cfg.grid.shards)
