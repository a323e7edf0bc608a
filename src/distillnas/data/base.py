"""Datasets held in memory as uint8 tensors, and seeded stratified splits.

A dataset is one pool of examples. Datasets with an official test set (CIFAR, ImageFolder
`val/`) keep it at the end of the pool and say where it starts; the others get a held-out
test split carved from the pool. Split indices always point into the pool, so a teacher's
logits file in pool order lines up with every split.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import DistillnasError

SPLIT_NAMES = ("train", "minitrain", "minival", "test", "holdout")
HOLDOUT_MAX = 10_000  # images of the training pool left out by data.train_subset kept as `holdout`


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """Images (N, C, H, W) uint8 and labels (N,) int64, plus how to normalise and augment."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    flip: bool  # horizontal flips keep the label (never for digits)
    pad: int  # zero padding of random crops; 0 turns crops off
    test_start: int | None = None  # pool rows from here on are the official test set
    _identity: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DistillnasError(f"dataset {self.name!r}: images must be uint8 (N, C, H, W)")
        if len(self.images) != len(self.labels):
            raise DistillnasError(f"dataset {self.name!r}: {len(self.images)} images but {len(self.labels)} labels")
        if self.num_classes < 2:
            raise DistillnasError(f"dataset {self.name!r} has {self.num_classes} class; classification needs at least 2")
        if len(self.labels) and (int(self.labels.min()) < 0 or int(self.labels.max()) >= self.num_classes):
            raise DistillnasError(f"dataset {self.name!r} has labels {int(self.labels.min())}..{int(self.labels.max())}"
                                  f"; they must lie in 0..{self.num_classes - 1} for its {self.num_classes} classes")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def in_channels(self) -> int:
        """Input channels of every image (1 for grayscale, 3 for RGB)."""
        return int(self.images.shape[1])

    @property
    def input_size(self) -> int:
        """Height (= width) of every image in pixels."""
        return int(self.images.shape[-1])

    @property
    def identity(self) -> str:
        """Content hash (name, shape, labels, a sample of pixels): keys the teacher cache."""
        if not self._identity:
            h = hashlib.sha256(f"{self.name}|{tuple(self.images.shape)}|{self.test_start}".encode())
            h.update(self.labels.numpy().tobytes())
            h.update(self.images[:: max(1, len(self) // 64)].numpy().tobytes())
            self._identity.append(h.hexdigest()[:16])
        return self._identity[0]


@dataclass(frozen=True)
class Splits:
    """Index tensors into the pool. `train` = minitrain + minival (for final training);
    `holdout` = training images a `train_subset` left out (empty without one): a score that
    neither the search nor the test set has touched, large enough to rank students that differ
    by less than a 1,000-image mini-val resolves (`distillnas calibrate`)."""

    minitrain: torch.Tensor
    minival: torch.Tensor
    test: torch.Tensor
    holdout: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.int64))

    @property
    def train(self) -> torch.Tensor:
        """The whole training pool (mini-train and mini-val together), for final trainings."""
        return torch.cat([self.minitrain, self.minival])

    def get(self, name: str) -> torch.Tensor:
        if name not in SPLIT_NAMES:
            raise DistillnasError(f"unknown split {name!r}; choose one of: {', '.join(SPLIT_NAMES)}")
        return getattr(self, name)


def _stratified(labels: np.ndarray, idx: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split `idx` into (rest, held) with `fraction` of every class held out."""
    rest, held = [], []
    for c in np.unique(labels[idx]):
        members = idx[labels[idx] == c]
        members = members[rng.permutation(len(members))]
        k = int(round(fraction * len(members)))
        held.append(members[:k])
        rest.append(members[k:])
    return np.sort(np.concatenate(rest)), np.sort(np.concatenate(held))


def make_splits(
    ds: ImageDataset,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    train_subset: int | None = None,
) -> Splits:
    """Seeded, stratified mini-train / mini-val / test split.

    `test_fraction` is used only when the dataset has no official test set.
    `train_subset` keeps a stratified sample of that many training examples (AKD's proxy
    uses ~10K of ImageNet) before mini-val is taken from it.
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < value < 1.0:
            raise DistillnasError(f"{name} must be between 0 and 1 (exclusive), got {value}")
    rng = np.random.default_rng(seed)
    labels = ds.labels.numpy()
    pool = np.arange(len(ds))
    if ds.test_start is not None:
        train_idx, test_idx = pool[: ds.test_start], pool[ds.test_start :]
    else:
        train_idx, test_idx = _stratified(labels, pool, test_fraction, rng)
    left_out = np.empty(0, dtype=np.int64)
    if train_subset is not None:
        if not 0 < train_subset <= len(train_idx):
            raise DistillnasError(f"train_subset must be in 1..{len(train_idx)} for {ds.name!r}, got {train_subset}")
        if train_subset < len(train_idx):
            left_out, train_idx = _stratified(labels, train_idx, train_subset / len(train_idx), rng)
    minitrain, minival = _stratified(labels, train_idx, val_fraction, rng)
    holdout = _holdout(labels, left_out, rng)  # drawn last: the splits above are as before it existed
    _check_sizes(ds, {"mini-train": minitrain, "mini-val": minival, "test": test_idx},
                 {"mini-train": "data.val_fraction", "mini-val": "data.val_fraction",
                  "test": "data.test_fraction" if ds.test_start is None else "the dataset's test set"})
    as_t = lambda a: torch.from_numpy(a.astype(np.int64))  # noqa: E731
    return Splits(as_t(minitrain), as_t(minival), as_t(test_idx), as_t(holdout))


def _holdout(labels: np.ndarray, left_out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A stratified sample of at most HOLDOUT_MAX of the images `train_subset` left out."""
    if len(left_out) <= HOLDOUT_MAX:
        return left_out
    return _stratified(labels, left_out, HOLDOUT_MAX / len(left_out), rng)[1]


def _check_sizes(ds: ImageDataset, splits: dict[str, np.ndarray], setting: dict[str, str]) -> None:
    """Every split holds at least one example per class: a smaller mini-val scores every trial on
    a handful of images (0 % for an empty one), a smaller test set reports noise."""
    for name, idx in splits.items():
        if len(idx) < ds.num_classes:
            raise DistillnasError(f"the {name} split of {ds.name!r} holds {len(idx)} example(s), fewer than its "
                                  f"{ds.num_classes} classes; raise {setting[name]} (or train_subset) so each split "
                                  "has at least one example per class")
