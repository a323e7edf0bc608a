"""A space restricted to a subset of its options (`space.restrict`), so a large space has
sub-spaces small enough to tabulate exhaustively.

`restrict` maps decision names - or shell patterns over them, like `b*.se` - to the option
values kept: `{"b*.se": [0.0], "b[0156].op": ["mb6"]}` fixes squeeze-excite off everywhere
and the op of blocks 0, 1, 5 and 6. Architectures keep the full space's canonical strings,
so a restricted search's archs are archs of the full space (and its tables line up with it).
"""
from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import torch.nn as nn

from ..errors import DistillnasError
from .base import Arch, Decision, SearchSpace


class RestrictedSpace(SearchSpace):
    """A space with some decisions' options narrowed (space.restrict); archs map to the full space's."""
    def __init__(self, base: SearchSpace, restrict: dict[str, list[Any]]) -> None:
        self.base, self.restrict, self.name = base, {k: list(v) for k, v in restrict.items()}, base.name
        used = {p: False for p in self.restrict}
        self.keep: list[tuple[int, ...]] = []  # per decision: the base tokens kept
        for d in base.decisions:
            kept = list(range(d.size))
            for pattern, values in self.restrict.items():
                if fnmatchcase(d.name, pattern):
                    used[pattern] = True
                    kept = [t for t in kept if d.choices[t] in values]
                    missing = [v for v in values if v not in d.choices]
                    if missing:
                        raise DistillnasError(f"space.restrict {pattern!r}: {missing} not among {d.name}'s options "
                                              f"({', '.join(map(str, d.choices))})")
            if not kept:
                raise DistillnasError(f"space.restrict leaves {d.name} no option")
            self.keep.append(tuple(kept))
        unused = [p for p, u in used.items() if not u]
        if unused:
            names = ", ".join(d.name for d in base.decisions[:8])
            raise DistillnasError(f"space.restrict {unused[0]!r} matches no decision of {base.name} (e.g. {names}, ...)")
        self.decisions = [Decision(d.name, d.kind, tuple(d.choices[t] for t in k), d.source, d.ordered)
                          for d, k in zip(base.decisions, self.keep)]

    def config(self) -> dict:
        return {**self.base.config(), "restrict": self.restrict}

    def lift(self, arch: Arch) -> Arch:
        """The same arch as tokens of the full space."""
        return tuple(k[t] for k, t in zip(self.keep, self.validate(arch)))

    def to_string(self, arch: Arch) -> str:
        return self.base.to_string(self.lift(arch))

    def table_key(self, arch: Arch) -> str:
        return self.base.table_key(self.lift(arch))

    def from_string(self, text: str) -> Arch:
        full = self.base.from_string(text)
        out = []
        for d, k, t in zip(self.decisions, self.keep, full):
            if t not in k:
                raise DistillnasError(f"arch {text!r}: {d.name}={self.base.decisions[len(out)].choices[t]!r} is "
                                      f"outside the restricted space (kept: {', '.join(map(str, d.choices))})")
            out.append(k.index(t))
        return tuple(out)

    def build(self, arch: Arch, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        return self.base.build(self.lift(arch), num_classes, in_channels, input_size)
