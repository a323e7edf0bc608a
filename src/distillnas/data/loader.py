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

from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DistillnasError
from .base import ImageDataset
from .files import batches

AUGMENT_MODES = ("none", "views", "random")


@dataclass
class Batch:
    """One training batch: images, labels, their positions in the split, and the view of each."""
    x: torch.Tensor  # float, normalised (B, C, H, W)
    y: torch.Tensor  # (B,) int64
    pos: torch.Tensor  # (B,) positions within the split, for cached teacher logits
    view: torch.Tensor | None  # (B,) view ids in ``views`` mode, else None


_GOLDEN, _MIX1, _MIX2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (Steele, Lea & Flood, OOPSLA 2014): a bijective 64-bit mix,
    so hashing (seed, index, view) gives independent-looking draws, computable in any order."""
    with np.errstate(over="ignore"):
        z = z + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@dataclass(frozen=True)
class ViewTable:
    """K fixed augmented views of a split's examples; view 0 is the plain image.

    A view's crop offset and flip are a hash of (seed, the example's dataset index, view), so
    any process - a loader worker, a data-parallel rank, a cache filler on another host - finds
    them for any example without holding an n x K table (ImageNet's would be 1.28M x K)."""

    indices: torch.Tensor  # (n,) dataset indices of the split's examples
    num_views: int
    pad: int
    flip: bool
    seed: int

    def params(self, view: torch.Tensor | int, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(dx, dy, flip) of the examples at positions `pos` under `view` (one view, or one per example)."""
        idx = self.indices[pos].numpy().astype(np.uint64)
        v = np.broadcast_to(torch.as_tensor(view).numpy().astype(np.uint64), idx.shape)
        seed = np.full(idx.shape, self.seed & 0xFFFFFFFFFFFFFFFF, np.uint64)
        h = _splitmix64(_splitmix64(_splitmix64(seed) ^ idx) ^ v)
        span, plain = np.uint64(2 * self.pad + 1), v == 0
        dx = np.where(plain, self.pad, (h % span).astype(np.int64))
        dy = np.where(plain, self.pad, ((h >> np.uint64(21)) % span).astype(np.int64))
        fl = ~plain & self.flip & ((h >> np.uint64(42)) & np.uint64(1)).astype(bool)
        return torch.from_numpy(dx), torch.from_numpy(dy), torch.from_numpy(fl)

    def part(self, lo: int, hi: int) -> "ViewTable":
        """The same views of the examples at positions lo..hi-1."""
        return replace(self, indices=self.indices[lo:hi])

    @property
    def key(self) -> str:
        """What the views depend on, besides the indices (for the teacher cache's content key)."""
        return f"splitmix64|{self.num_views}|{self.pad}|{self.flip}|{self.seed}"


def make_views(indices: torch.Tensor, num_views: int, pad: int, flip: bool, seed: int) -> ViewTable:
    """The fixed views of the examples `indices` (dataset indices of a split)."""
    if num_views < 1:
        raise DistillnasError(f"num_views must be >= 1, got {num_views}")
    return ViewTable(torch.as_tensor(indices, dtype=torch.int64), num_views, pad, bool(flip), seed)


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
        """Examples this loader yields per epoch (its shard's, when data-parallel)."""
        return len(self.indices)

    def _augment(self, x: torch.Tensor, pos: torch.Tensor, keep: slice) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Augment the examples `keep` of the global batch at `pos` (x holds only those); the
        random draws cover the whole batch, so every rank's generator stays in step."""
        pad, flip = self.ds.pad, self.ds.flip
        if self.augment == "views":
            assert self.views is not None
            v = torch.randint(0, self.views.num_views, (len(pos),), generator=self.gen)[keep]
            return crop_flip(x, *self.views.params(v, pos[keep]), pad), v
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
    return normalize(crop_flip(x, *views.params(view, pos), ds.pad))
