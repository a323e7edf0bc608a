"""In-memory batched loader vs a torch DataLoader over the same data and augmentation.

Both produce normalised, randomly cropped (pad 2) batches of 128 from mnist5k's training
split; the DataLoader applies the same crop per example in __getitem__ (the usual
torchvision-style pipeline). Prints images/s; writes results/loader.json.
"""
from __future__ import annotations

import time

import torch
from torch.utils.data import DataLoader, Dataset

from distillnas.data import Normalizer, TensorLoader, crop_flip, load_dataset, make_splits

from _common import report


class PerExample(Dataset):
    def __init__(self, ds, idx):
        self.x, self.y, self.pad, self.norm = ds.images[idx], ds.labels[idx], ds.pad, Normalizer(ds)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        dx, dy = torch.randint(0, 2 * self.pad + 1, (2,))
        x = crop_flip(self.x[i:i + 1], dx.view(1), dy.view(1), torch.zeros(1, dtype=torch.bool), self.pad)
        return self.norm(x)[0], self.y[i]


def rate(make_iter, n: int, epochs: int = 3) -> float:
    for _ in make_iter():  # warm-up epoch
        pass
    t = time.perf_counter()
    for _ in range(epochs):
        for _ in make_iter():
            pass
    return epochs * n / (time.perf_counter() - t)


def main() -> None:
    ds = load_dataset("mnist5k")
    idx = make_splits(ds).train
    ours = TensorLoader(ds, idx, 128, shuffle=True, augment="random")
    rows = [{"loader": "distillnas TensorLoader (batched aug)", "images_per_s": rate(lambda: ours, len(idx))}]
    for workers in (0, 2):
        dl = DataLoader(PerExample(ds, idx), batch_size=128, shuffle=True, num_workers=workers,
                        persistent_workers=workers > 0)
        rows.append({"loader": f"torch DataLoader, {workers} workers", "images_per_s": rate(lambda: dl, len(idx))})
    for r in rows:
        r["speedup_of_ours"] = rows[0]["images_per_s"] / r["images_per_s"]
    report("loader", rows)


if __name__ == "__main__":
    main()
