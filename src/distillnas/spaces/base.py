"""Search spaces: architectures as plain tokens with one canonical string.

An architecture is a tuple of ints, one per decision (the index of the chosen option), so
it is JSON-serialisable and hashable; strategies only ever see these tokens and the
decisions' sizes. The space turns tokens into a canonical string (and back, strictly), a
one-hot vector, and - only here - an `nn.Module`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch.nn as nn

from ..arch import Arch, mutate_arch, sample_arch
from ..errors import DistillnasError


@dataclass(frozen=True)
class Decision:
    """One choice of a space: its name, its type, its options, and whether they are ordered numbers."""

    name: str  # unique, e.g. "b3.kernel"
    kind: str  # decision type; a controller may share one output head per type
    choices: tuple[Any, ...]
    # A wiring decision's source, for controllers that attend over earlier layers (ENAS):
    # the index of the decision that chose the source layer, or None (a fixed input, e.g. a
    # backbone stage's output, or not a wiring decision at all).
    source: int | None = None
    # The options are numbers in increasing order (a depth, a kernel size, a width), so a
    # strategy may treat nearby options as alike: TPE's numeric kernel, evolution's one-step
    # move. False for unordered options (an op type, a skip kind, a wiring bit).
    ordered: bool = False

    def __post_init__(self) -> None:
        if self.ordered and not all(isinstance(c, (int, float)) and not isinstance(c, bool) and a < c
                                    for a, c in zip(self.choices, self.choices[1:])):
            raise DistillnasError(f"{self.name}: an ordered decision needs increasing numbers, got {self.choices}")

    @property
    def size(self) -> int:
        """How many options the decision has."""
        return len(self.choices)


class SearchSpace(ABC):
    """Base class: subclasses set `name`, `decisions`, and write to_string/from_string/build."""

    name: str = "space"
    decisions: list[Decision]

    # --- shape of the space, for strategies -------------------------------------------
    @property
    def sizes(self) -> list[int]:
        """Options per decision, in order (what strategies see)."""
        return [d.size for d in self.decisions]

    @property
    def kinds(self) -> list[str]:
        """Each decision's type (decisions of one type may share a controller head)."""
        return [d.kind for d in self.decisions]

    @property
    def sources(self) -> list[int | None]:
        """Per decision, the decision whose option it wires to (add-on spaces), else None."""
        return [d.source for d in self.decisions]

    @property
    def ordered(self) -> list[bool]:
        """Per decision, whether its options are ordered numbers (a depth, a kernel size)."""
        return [d.ordered for d in self.decisions]

    @property
    def cardinality(self) -> int:
        """How many archs the space holds."""
        return int(np.prod([float(s) for s in self.sizes]))

    def config(self) -> dict:
        """The space's own settings, enough to rebuild it with `build_space(**config)`."""
        return {"name": self.name}

    # --- architectures ------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Arch:
        """A uniformly random arch."""
        return sample_arch(self.sizes, rng)

    def validate(self, arch: Sequence[int]) -> Arch:
        """Refuse an arch of the wrong length or with an option out of range, in one line."""
        if len(arch) != len(self.decisions):
            raise DistillnasError(f"{self.name} arch needs {len(self.decisions)} tokens, got {len(arch)}")
        for d, t in zip(self.decisions, arch):
            if not (isinstance(t, (int, np.integer)) and 0 <= int(t) < d.size):
                raise DistillnasError(f"{self.name}: token {t!r} for {d.name} is outside 0..{d.size - 1}")
        return tuple(int(t) for t in arch)

    def values(self, arch: Arch) -> dict[str, Any]:
        """The option values an arch picks, by decision name."""
        return {d.name: d.choices[t] for d, t in zip(self.decisions, self.validate(arch))}

    def one_hot(self, arch: Arch) -> np.ndarray:
        """Every categorical decision expanded into one-hot dimensions (AKD's 35 -> 77 dims)."""
        out = np.zeros(sum(self.sizes), dtype=np.float32)
        offset = 0
        for s, t in zip(self.sizes, self.validate(arch)):
            out[offset + t] = 1.0
            offset += s
        return out

    def one_hot_names(self) -> list[str]:
        """Names of the one-hot columns of `one_hot` (decision=option), for analysis."""
        return [f"{d.name}={c}" for d in self.decisions for c in d.choices]

    def token_of(self, decision: Decision, value: Any, arch_str: str) -> int:
        """Index of `value` among the decision's choices, or a clear error."""
        for i, c in enumerate(decision.choices):
            if c == value:
                return i
        allowed = ", ".join(str(c) for c in decision.choices)
        raise DistillnasError(f"{self.name} arch {arch_str!r}: {decision.name}={value!r} is not in the space "
                              f"(allowed: {allowed})")

    @abstractmethod
    def to_string(self, arch: Arch) -> str:
        """The canonical string of an arch (round-trips through from_string)."""

    def table_key(self, arch: Arch) -> str:
        """The key of this arch in a benchmark table: its canonical string unless the space's
        published tables use another code (resnet_depth: DisWOT's '135')."""
        return self.to_string(arch)

    @abstractmethod
    def from_string(self, text: str) -> Arch:
        """Parse a string strictly: every error names the bad part and what is allowed."""

    @abstractmethod
    def build(self, arch: Arch, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        """The network of an arch; the only place a space makes an nn.Module."""

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Change one decision to another of its options, an ordered one by one step (as evolution does)."""
        return mutate_arch(self.validate(arch), self.sizes, rng, self.ordered)

