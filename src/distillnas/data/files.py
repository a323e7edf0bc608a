"""Images read from disk on demand, for datasets too large to hold in memory (ImageNet).

`FileImages` stands where an in-memory dataset has its uint8 tensor: indexing it decodes the
selected files (Pillow, resized to the dataset's size) and returns the same (B, C, H, W)
uint8 batch an in-memory dataset would. Loaders fetch whole batches through a
`torch.utils.data.DataLoader` whose worker processes do the decoding (`batches`), while the
batch order, crops, flips and normalisation stay in the main process - so a streamed epoch
is the same sequence of batches as an in-memory one, for any number of workers.

The paths are one numpy string array, not a list of Python strings: forked workers then
share its pages instead of copying them as reference counts change.
"""
from __future__ import annotations

import logging
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

log = logging.getLogger("distillnas")


def decode_image(path: str, size: int) -> np.ndarray:
    """One image as (3, size, size) uint8; an unreadable file becomes a black image (logged)."""
    from PIL import Image  # Pillow comes with matplotlib; the `vision` extra pins it

    try:
        with Image.open(path) as im:
            img = im.convert("RGB").resize((size, size), Image.BILINEAR)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        log.warning("could not read image %s (%s); a black image stands in for it", path, type(e).__name__)
        return np.zeros((3, size, size), dtype=np.uint8)
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1))


class FileImages:
    """A dataset's images as files: indexed like a (N, 3, size, size) uint8 tensor."""

    dtype = torch.uint8

    def __init__(self, paths: list[str], size: int, workers: int = 2) -> None:
        self.paths = np.array([str(p) for p in paths])
        self.size, self.workers = size, workers

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(images, channels, height, width), as a held tensor would report it."""
        return (len(self.paths), 3, self.size, self.size)

    def dim(self) -> int:
        """Always 4: a batch of images, like a held tensor."""
        return 4

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, idx) -> torch.Tensor:  # noqa: ANN001 - int, slice or index tensor, as for a tensor
        rows = torch.arange(len(self.paths))[idx]
        if rows.dim() == 0:
            return torch.from_numpy(decode_image(self.paths[int(rows)], self.size))
        if not len(rows):
            return torch.empty((0, 3, self.size, self.size), dtype=torch.uint8)
        return torch.from_numpy(np.stack([decode_image(self.paths[int(r)], self.size) for r in rows]))


class _Decode(Dataset):
    """Item i is batch i, decoded: the DataLoader's workers each decode whole batches."""

    def __init__(self, images, rows: list[torch.Tensor]) -> None:  # noqa: ANN001
        self.images, self.rows = images, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[self.rows[i]]


def batches(images, rows: list[torch.Tensor]) -> Iterator[torch.Tensor]:  # noqa: ANN001
    """The uint8 images of each row batch, in order: indexed directly when `images` is a tensor,
    decoded by `images.workers` worker processes (prefetching) when it is a `FileImages`."""
    if isinstance(images, torch.Tensor):
        yield from (images[r] for r in rows)
        return
    workers = min(images.workers, len(rows))
    loader = DataLoader(_Decode(images, rows), batch_size=None, shuffle=False, num_workers=workers,
                        prefetch_factor=2 if workers else None, persistent_workers=False)
    yield from loader
