"""ImageFolder layout: root/train/<class>/<image> and root/val/<class>/<image>.

TinyImageNet's own layout is read as it comes: train/<wnid>/images/*.JPEG, and
val/images/* labelled by val/val_annotations.txt.

Images are decoded with Pillow, resized to `image_size` and held in memory, which suits
the proxy subsets the searches use (AKD: ~10K ImageNet images), not all of ImageNet.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import DistillnasError
from .base import ImageDataset

_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".JPEG"}


def _images(folder: Path) -> list[Path]:
    inner = folder / "images"  # TinyImageNet: train/<wnid>/images/
    return sorted(p for p in (inner if inner.is_dir() else folder).iterdir() if p.suffix in _EXT)


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
    base = Path(root or "").expanduser()
    if root is None or not (base / "train").is_dir() or not (base / "val").is_dir():
        raise DistillnasError(f"dataset directory {str(base)!r} is not in the imagefolder layout: "
                              "expected train/<class>/* and val/<class>/*")
    train, val = _scan(base / "train"), _scan(base / "val")
    if not train or sorted(train) != sorted(val):
        raise DistillnasError(f"{base}: train/ and val/ must hold the same non-empty set of class folders")
    names = sorted(train)
    xs, ys = [], []
    for part in (train, val):
        for label, c in enumerate(names):
            for p in part[c]:
                img = Image.open(p).convert("RGB").resize((image_size, image_size), Image.BILINEAR)
                xs.append(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1))
                ys.append(label)
    n_val = sum(len(v) for v in val.values())
    images = torch.from_numpy(np.stack(xs))
    mean = tuple((images.float() / 255).mean(dim=(0, 2, 3)).tolist())
    std = tuple((images.float() / 255).std(dim=(0, 2, 3)).clamp_min(1e-3).tolist())
    return ImageDataset("imagefolder", images, torch.tensor(ys), len(names), mean=mean, std=std,
                        flip=True, pad=max(1, image_size // 8), test_start=len(ys) - n_val)
