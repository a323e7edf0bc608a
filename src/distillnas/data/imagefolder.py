"""ImageFolder layout: root/train/<class>/<image> and root/val/<class>/<image>.

TinyImageNet's own layout is read as it comes: train/<wnid>/images/*.JPEG, and
val/images/* labelled by val/val_annotations.txt.

Images are decoded with Pillow and resized to `image_size`. Where the decoded pool fits in
`max_memory_gb` (or with `in_memory: true`) it is held in memory as uint8, 12-17x faster to
train from; otherwise (`in_memory: false`, or `auto` over the limit: all of ImageNet) the
dataset keeps only the file paths and loaders decode each batch in `workers` worker
processes (files.FileImages). Both normalise with the moments of one seeded sample of the
training images, so a dataset is the same held or streamed.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..errors import DistillnasError
from .base import ImageDataset
from .files import FileImages, decode_image

_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".JPEG"}
log = logging.getLogger("distillnas")


def _images(folder: Path) -> list[Path]:
    inner = folder / "images"  # TinyImageNet: train/<wnid>/images/
    return sorted(p for p in (inner if inner.is_dir() else folder).iterdir() if p.suffix in _EXT and p.is_file())


def _scan(folder: Path) -> dict[str, list[Path]]:
    annotations = folder / "val_annotations.txt"
    if annotations.is_file():  # TinyImageNet's val/: images/ + a file of (image, wnid, box)
        by_class: dict[str, list[Path]] = {}
        for line in annotations.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 2:
                by_class.setdefault(parts[1], []).append(folder / "images" / parts[0])
        return {c: sorted(v) for c, v in sorted(by_class.items())}
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    return {c: _images(folder / c) for c in classes}


def imagefolder(root: str | None = None, image_size: int = 32, in_memory: bool | str = "auto", workers: int = 2,
                max_memory_gb: float = 8.0) -> ImageDataset:
    """A folder of class folders (train/ and val/), held in memory or streamed from disk."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        raise DistillnasError("dataset 'imagefolder' needs Pillow: pip install 'distillnas[vision]'") from None
    if root is None:
        raise DistillnasError("dataset 'imagefolder' needs a data root (--data-root / data.root): a directory with "
                              "train/<class>/* and val/<class>/*")
    base = Path(root).expanduser()
    if not (base / "train").is_dir() or not (base / "val").is_dir():
        raise DistillnasError(f"dataset directory {str(base)!r} is not in the imagefolder layout: "
                              "expected train/<class>/* and val/<class>/*")
    train, val = _scan(base / "train"), _scan(base / "val")
    if not train or sorted(train) != sorted(val):
        raise DistillnasError(f"{base}: train/ and val/ must hold the same non-empty set of class folders")
    if len(train) < 2:
        raise DistillnasError(f"{base}: one class folder ({next(iter(train))!r}); classification needs at least 2")
    names = sorted(train)
    for part, split in ((train, "train"), (val, "val")):
        for c in names:
            if not part[c]:
                raise DistillnasError(f"class folder {str(base / split / c)!r} holds no images "
                                      f"({', '.join(sorted(_EXT))})")
    count = sum(len(v) for v in train.values()) + sum(len(v) for v in val.values())
    if in_memory is False or in_memory == "auto" and count * 3 * image_size ** 2 > max_memory_gb * 1e9:
        return _streamed(base, train, val, names, image_size, workers)
    xs, ys, skipped, n_train = [], [], [], 0
    for part, split in ((train, "train"), (val, "val")):
        for label, c in enumerate(names):
            before = len(ys)
            for p in part[c]:
                try:
                    with Image.open(p) as im:
                        img = im.convert("RGB").resize((image_size, image_size), Image.BILINEAR)
                except (OSError, ValueError, Image.DecompressionBombError) as e:
                    skipped.append(_why(p, e))
                    continue
                xs.append(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1))
                ys.append(label)
            _need_one(base, split, c, len(ys) - before, skipped)
        if split == "train":
            n_train = len(ys)
    _report_skipped(base, skipped)
    images = torch.from_numpy(np.stack(xs))
    mean, std = _moments(lambda rows: images[torch.from_numpy(rows)], n_train)
    return ImageDataset("imagefolder", images, torch.tensor(ys), len(names), mean=mean, std=std,
                        flip=True, pad=max(1, image_size // 8), test_start=n_train)


def _why(path: Path, e: Exception) -> str:
    return f"{path}: {str(e).splitlines()[0][:80] if str(e) else type(e).__name__}"


def _need_one(base: Path, split: str, c: str, readable: int, skipped: list[str]) -> None:
    """Refuse a class folder none of whose images could be read (it would train on nothing, or on black)."""
    if not readable:
        raise DistillnasError(f"class folder {str(base / split / c)!r} holds no readable image"
                              + (f" (the last tried: {skipped[-1]})" if skipped else ""))


def _report_skipped(base: Path, skipped: list[str]) -> None:
    if skipped:
        log.warning("imagefolder %s: skipped %d unreadable image(s); the first: %s", base, len(skipped), skipped[0])


def _opens(path: Path) -> Exception | None:
    """None when Pillow recognises the file as an image (its header only: no decoding), else why not."""
    from PIL import Image

    try:
        with Image.open(path):
            return None
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        return e


def _moments(read, n_train: int, sample: int = 2000) -> tuple[tuple[float, ...], tuple[float, ...]]:  # noqa: ANN001
    """Per-channel mean and std of a seeded sample of up to `sample` training images (`read(rows)`
    gives their uint8 batch): the same normalisation whether the images are held or streamed,
    without a float copy of the whole pool."""
    rows = np.sort(np.random.default_rng(0).permutation(n_train)[:sample])
    seen = read(rows).double() / 255  # in float64 and rounded: summation order cannot tell the paths apart
    return (tuple(round(v, 6) for v in seen.mean(dim=(0, 2, 3)).tolist()),
            tuple(round(max(v, 1e-3), 6) for v in seen.std(dim=(0, 2, 3)).tolist()))


def _streamed(base: Path, train: dict[str, list[Path]], val: dict[str, list[Path]], names: list[str], size: int,
              workers: int) -> ImageDataset:
    """The dataset as file paths (decoded per batch). Files Pillow does not recognise as images
    are skipped and counted as the in-memory path skips them (their headers are read once here;
    a file whose header reads but whose pixels are broken still becomes a black image, logged)."""
    paths, labels, skipped, n_train = [], [], [], 0
    for part, split in ((train, "train"), (val, "val")):
        for label, c in enumerate(names):
            readable = 0
            for p in part[c]:
                if (e := _opens(p)) is not None:
                    skipped.append(_why(p, e))
                    continue
                paths.append(p)
                readable += 1
            labels += [label] * readable
            _need_one(base, split, c, readable, skipped)
        if split == "train":
            n_train = len(paths)
    _report_skipped(base, skipped)
    mean, std = _moments(lambda rows: torch.from_numpy(np.stack([decode_image(str(paths[i]), size) for i in rows])),
                         n_train)
    log.info("imagefolder: streaming %d images from disk with %d worker(s)", len(paths), workers)
    return ImageDataset("imagefolder", FileImages(paths, size, workers), torch.tensor(labels), len(names),
                        mean=mean, std=std, flip=True, pad=max(1, size // 8), test_start=n_train)
