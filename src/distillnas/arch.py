"""The one architecture type: a tuple of token indices, one per decision of a search space.

Strategies and spaces share these pure operations, so uniform sampling and one-step
mutation mean the same thing everywhere (a strategy sees only the decisions' sizes).
"""
from __future__ import annotations

from typing import Container, Sequence

import numpy as np

Arch = tuple[int, ...]


def sample_arch(sizes: Sequence[int], rng: np.random.Generator) -> Arch:
    """Every decision drawn uniformly."""
    return tuple(int(rng.integers(s)) for s in sizes)


def neighbours(arch: Sequence[int], sizes: Sequence[int], ordered: Sequence[bool] | None = None) -> list[Arch]:
    """Every arch one mutation away (what `mutate_arch` can return): one decision moved to
    another option, or one step up or down where the decision is ordered."""
    out = []
    for i, (t, s) in enumerate(zip(arch, sizes)):
        options = (t - 1, t + 1) if ordered is not None and ordered[i] else range(s)
        out += [tuple(arch[:i]) + (int(o),) + tuple(arch[i + 1:]) for o in options if 0 <= o < s and o != t]
    return out


def untold_neighbour(arch: Sequence[int], sizes: Sequence[int], ordered: Sequence[bool] | None,
                     taken: Container[Arch], rng: np.random.Generator) -> Arch | None:
    """One of arch's neighbours not in `taken`, drawn uniformly; None if all
    are: the local move a strategy takes instead of asking an arch it was already told."""
    near = [b for b in neighbours(arch, sizes, ordered) if b not in taken]
    return near[int(rng.integers(len(near)))] if near else None


def mutate_arch(arch: Sequence[int], sizes: Sequence[int], rng: np.random.Generator,
                ordered: Sequence[bool] | None = None) -> Arch:
    """One decision (of those with a choice) moved to another of its options (regularized
    evolution); an ordered decision (`ordered[i]`) moves one step up or down instead, the
    local move of numeric genes (a child one depth from its parent, not any depth)."""
    out = list(arch)
    mutable = [i for i, s in enumerate(sizes) if s > 1]
    i = int(rng.choice(mutable))
    if ordered is not None and ordered[i]:
        steps = [t for t in (out[i] - 1, out[i] + 1) if 0 <= t < sizes[i]]
        out[i] = int(steps[int(rng.integers(len(steps)))])
    else:
        out[i] = int((out[i] + rng.integers(1, sizes[i])) % sizes[i])
    return tuple(out)
