"""ImageFolder layout: root/train/<class>/<image> and root/val/<class>/<image>.

TinyImageNet's own layout is read as it comes: train/<wnid>/images/*.JPEG, and
val/images/* labelled by val/val_annotations.txt.

Images are decoded with Pillow, resized to `image_size` and held in memory, which suits
the proxy subsets the searches use (AKD: ~10K ImageNet images), not all of ImageNet.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..errors import DistillnasError
from .base import ImageDataset

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


def imagefolder(root: str | None = None, image_size: int = 32) -> ImageDataset:
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
    xs, ys, skipped = [], [], []
    for part, split in ((train, "train"), (val, "val")):
        for label, c in enumerate(names):
            if not part[c]:
                raise DistillnasError(f"class folder {str(base / split / c)!r} holds no images "
                                      f"({', '.join(sorted(_EXT))})")
            for p in part[c]:
                try:
                    with Image.open(p) as im:
                        img = im.convert("RGB").resize((image_size, image_size), Image.BILINEAR)
                except (OSError, ValueError, Image.DecompressionBombError) as e:
                    skipped.append(f"{p}: {str(e).splitlines()[0][:80] if str(e) else type(e).__name__}")
                    continue
                xs.append(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1))
                ys.append(label)
        if split == "train":
            n_train = len(ys)
    if skipped:
        log.warning("imagefolder %s: skipped %d unreadable image(s); the first: %s", base, len(skipped), skipped[0])
    missing = sorted(set(range(len(names))) - set(ys))
    if missing:
        raise DistillnasError(f"{base}: no readable image in class folder {names[missing[0]]!r}")
    images = torch.from_numpy(np.stack(xs))
    mean = tuple((images.float() / 255).mean(dim=(0, 2, 3)).tolist())
    std = tuple((images.float() / 255).std(dim=(0, 2, 3)).clamp_min(1e-3).tolist())
    return ImageDataset("imagefolder", images, torch.tensor(ys), len(names), mean=mean, std=std,
                        flip=True, pad=max(1, image_size // 8), test_start=n_train)
