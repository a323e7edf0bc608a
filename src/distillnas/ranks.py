"""This process's place in a data-parallel group (torch.distributed), for the modules that
must act per rank: the loader's shard, the teacher cache's parts, who writes and reports."""
from __future__ import annotations

from dataclasses import dataclass

import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    """Rank statistics of two score lists over the same items (Kendall tau, Spearman, top-k overlap)."""
    rank: int = 0
    world: int = 1

    @property
    def shard(self) -> tuple[int, int]:
        return (self.rank, self.world)

    @property
    def lead(self) -> bool:
        """The rank that writes and reports."""
        return self.rank == 0


def ranks() -> Ranks:
    """This process's rank and the world size (0 of 1 outside a process group)."""
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size())
    return Ranks()
