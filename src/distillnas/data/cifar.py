"""CIFAR-10/100 from a user directory in the standard python-pickle layout.

The pickles are read with an unpickler that only rebuilds plain containers and numpy
arrays, so a tampered file cannot run code.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from ..errors import DistillnasError
from .base import ImageDataset

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}

_LAYOUTS = {
    # name: (folder name, train files, test files, label key, classes)
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels", 10),
    "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels", 100),
}
_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: ANN201
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read(path: Path) -> dict:
    with open(path, "rb") as f:
        return _SafeUnpickler(f, encoding="bytes").load()


def _find_dir(root: str | None, name: str) -> Path:
    folder, train, test, _, _ = _LAYOUTS[name]
    if root is None:
        raise DistillnasError(f"dataset {name!r} needs a data root (--data-root / data.root): a directory "
                              f"holding {folder}/")
    base = Path(root).expanduser()
    for cand in (base, base / folder):
        if all((cand / f).is_file() for f in train + test):
            return cand
    raise DistillnasError(
        f"dataset directory {str(base)!r} is not in the {name} python layout: expected "
        f"{folder}/ with files {', '.join(train + test)} (from the python version of the archive)"
    )


def _load(name: str, root: str | None) -> ImageDataset:
    folder, train, test, key, classes = _LAYOUTS[name]
    d = _find_dir(root, name)
    xs, ys = [], []
    for f in train + test:
        try:
            batch = _read(d / f)
            if not isinstance(batch, dict):
                raise ValueError(f"it holds a {type(batch).__name__}, not a dict of data and labels")
            xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[key], dtype=np.int64))
        except (pickle.UnpicklingError, KeyError, ValueError, TypeError, EOFError, OSError) as e:
            raise DistillnasError(f"{d / f}: not a {name} batch file ({type(e).__name__}: {e})") from None
    n_test = sum(len(y) for y in ys[len(train):])
    labels = np.concatenate(ys)
    mean, std = _STATS[name]
    return ImageDataset(name, torch.from_numpy(np.concatenate(xs)), torch.from_numpy(labels), classes,
                        mean=mean, std=std, flip=True, pad=4, test_start=len(labels) - n_test)


def cifar10(root: str | None = None) -> ImageDataset:
    """CIFAR-10 from its python pickles under `root` (never downloaded)."""
    return _load("cifar10", root)


def cifar100(root: str | None = None) -> ImageDataset:
    """CIFAR-100 from its python pickles under `root` (never downloaded)."""
    return _load("cifar100", root)
