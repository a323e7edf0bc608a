"""Batch loader with batched augmentation, over images in memory or streamed from disk.

Augmentation is a crop offset (dx, dy) inside the zero-padded image and an optional
horizontal flip. Three modes:

- ``none``: the plain images (evaluation, or distillation without augmentation);
- ``views``: each example has K fixed augmented *views* (view 0 is the plain image), and
  every epoch each example is shown one of them at random. Teacher logits for all K views
  are cached once, so distillation never runs the teacher again (see teachers/cache.py);
- ``random``: fresh random crops and flips every time (the teacher must run online).

A dataset whose images are files (files.FileImages, `data.in_memory: false`) is streamed:
worker processes decode each batch, the main process augments it as above, so both paths
give the same batches.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from ..errors import DistillnasError
from .base import ImageDataset
from .files import batches

AUGMENT_MODES = ("none", "views", "random")


@dataclass
class Batch:
    x: torch.Tensor  # float, normalised (B, C, H, W)
    y: torch.Tensor  # (B,) int64
    pos: torch.Tensor  # (B,) positions within the split, for cached teacher logits
    view: torch.Tensor | None  # (B,) view ids in ``views`` mode, else None


@dataclass(frozen=True)
class ViewTable:
    """Fixed augmentation parameters: (V, n) crop offsets and flips; view 0 is identity."""

    dx: torch.Tensor
    dy: torch.Tensor
    flip: torch.Tensor

    @property
    def num_views(self) -> int:
        return int(self.dx.shape[0])


def make_views(n: int, num_views: int, pad: int, flip: bool, seed: int) -> ViewTable:
    if num_views < 1:
        raise DistillnasError(f"num_views must be >= 1, got {num_views}")
    g = torch.Generator().manual_seed(10_007 * seed + 17)
    dx = torch.randint(0, 2 * pad + 1, (num_views, n), generator=g)
    dy = torch.randint(0, 2 * pad + 1, (num_views, n), generator=g)
    fl = torch.randint(0, 2, (num_views, n), generator=g).bool() & flip
    dx[0], dy[0], fl[0] = pad, pad, False
    return ViewTable(dx, dy, fl)


def crop_flip(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, flip: torch.Tensor, pad: int) -> torch.Tensor:
    """Per-example crop of the zero-padded batch and optional flip, in one gather.

    Returns (B, C, H, W) laid out channels-last in memory (a free by-product of the gather).
    """
    b, c, h, w = x.shape
    if pad == 0 and not bool(flip.any()):
        return x
    xp = F.pad(x, (pad, pad, pad, pad)) if pad else x
    rows = dy[:, None] + torch.arange(h)
    cols = dx[:, None] + torch.arange(w)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    out = xp[torch.arange(b)[:, None, None], :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2)


class Normalizer:
    """uint8 -> float, per-channel (x/255 - mean) / std."""

    def __init__(self, ds: ImageDataset) -> None:
        c = ds.in_channels
        mean = torch.tensor(ds.mean, dtype=torch.float32).expand(c) if len(ds.mean) == 1 else torch.tensor(ds.mean)
        std = torch.tensor(ds.std, dtype=torch.float32).expand(c) if len(ds.std) == 1 else torch.tensor(ds.std)
        self.scale = (1.0 / (255.0 * std)).view(1, c, 1, 1)
        self.shift = (mean / std).view(1, c, 1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() * self.scale - self.shift


class TensorLoader:
    """Batches of one split (held in memory, or decoded from files by worker processes);
    augmentation is applied a batch at a time."""

    def __init__(self, ds: ImageDataset, indices: torch.Tensor, batch_size: int, *, shuffle: bool = False,
                 augment: str = "none", views: ViewTable | None = None, seed: int = 0,
                 drop_last: bool = False, channels_last: bool = False, shard: tuple[int, int] = (0, 1)) -> None:
        if batch_size < 1:
            raise DistillnasError(f"batch_size must be >= 1, got {batch_size}")
        if augment not in AUGMENT_MODES:
            raise DistillnasError(f"unknown augment mode {augment!r}; choose one of: {', '.join(AUGMENT_MODES)}")
        if augment == "views" and views is None:
            raise DistillnasError("augment='views' needs a ViewTable (make_views)")
        self.ds, self.indices, self.batch_size = ds, indices, batch_size
        # an in-memory split is gathered once; a streamed one is read batch by batch
        self.images = ds.images[indices] if isinstance(ds.images, torch.Tensor) else None
        self.labels = ds.labels[indices]
        self.shuffle, self.augment, self.views, self.drop_last = shuffle, augment, views, drop_last
        self.channels_last = channels_last
        # data-parallel training (training/distributed.py): every rank draws the same order
        # and augmentation of each global batch and keeps its slice of it
        self.rank, self.world = shard
        if not 0 <= self.rank < self.world or batch_size % self.world:
            raise DistillnasError(f"batch_size {batch_size} must split evenly over {self.world} processes "
                                  f"(rank {self.rank})")
        self.normalize = Normalizer(ds)
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.indices)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_examples(self) -> int:
        return len(self.indices)

    def _augment(self, x: torch.Tensor, pos: torch.Tensor, keep: slice) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Augment the examples `keep` of the global batch at `pos` (x holds only those); the
        random draws cover the whole batch, so every rank's generator stays in step."""
        pad, flip = self.ds.pad, self.ds.flip
        if self.augment == "views":
            assert self.views is not None
            v = torch.randint(0, self.views.num_views, (len(pos),), generator=self.gen)[keep]
            t, pos = self.views, pos[keep]
            return crop_flip(x, t.dx[v, pos], t.dy[v, pos], t.flip[v, pos], pad), v
        if self.augment == "random":
            b = len(pos)
            dx = torch.randint(0, 2 * pad + 1, (b,), generator=self.gen)[keep]
            dy = torch.randint(0, 2 * pad + 1, (b,), generator=self.gen)[keep]
            fl = (torch.randint(0, 2, (b,), generator=self.gen).bool() & flip)[keep]
            return crop_flip(x, dx, dy, fl, pad), None
        return x, None

    def __iter__(self) -> Iterator[Batch]:
        n = len(self.indices)
        order = torch.randperm(n, generator=self.gen) if self.shuffle else torch.arange(n)
        positions = [order[i * self.batch_size:(i + 1) * self.batch_size] for i in range(len(self))]
        keeps = [self._slice(len(pos)) for pos in positions]
        mine = [pos[keep] for pos, keep in zip(positions, keeps)]
        raw = batches(self.images, mine) if self.images is not None else \
            batches(self.ds.images, [self.indices[m] for m in mine])
        for pos, keep, x in zip(positions, keeps, raw):
            x, view = self._augment(x, pos, keep)
            x = self.normalize(x)
            x = x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
            yield Batch(x, self.labels[pos[keep]], pos[keep], view)

    def _slice(self, n: int) -> slice:
        """This rank's contiguous share of a global batch of n (all of it in one process)."""
        if self.world == 1:
            return slice(None)
        per = -(-n // self.world)
        return slice(self.rank * per, min(n, (self.rank + 1) * per))


def render_view(ds: ImageDataset, indices: torch.Tensor, views: ViewTable, view: int, pos: torch.Tensor,
                normalize: Normalizer) -> torch.Tensor:
    """The normalised images of examples `pos` (positions in the split) under view `view`."""
    x = ds.images[indices[pos]]
    return normalize(crop_flip(x, views.dx[view, pos], views.dy[view, pos], views.flip[view, pos], ds.pad))
