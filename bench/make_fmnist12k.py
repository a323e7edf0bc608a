"""Make the embedded `fmnist12k` dataset: a stratified, seeded subset of Fashion-MNIST.

10,000 training images (1,000 per class, drawn from the official 60,000 training images) and
2,000 test images (200 per class, from the official 10,000 test images), seed 0, written as
the four standard IDX files (gzip) into src/distillnas/data/fmnist12k/ with a README card that
names the source files by SHA-256, the indices' seed and the licence (MIT, Zalando SE).

    python bench/make_fmnist12k.py [--source /usr/share/datasets/fashion-mnist]
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
from pathlib import Path

import numpy as np

from distillnas.data.idx import FILES, IMAGES_MAGIC, LABELS_MAGIC, SETS, find_folder, read_idx

OUT = Path(__file__).resolve().parents[1] / "src" / "distillnas" / "data" / "fmnist12k"
PER_CLASS = {"train": 1000, "test": 200}


def idx_bytes(magic: int, items: np.ndarray) -> bytes:
    head = b"".join(int(v).to_bytes(4, "big") for v in [magic, len(items), *items.shape[1:]])
    return head + items.astype(np.uint8).tobytes()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default=None, help="folder of the four Fashion-MNIST IDX files")
    args = ap.parse_args()
    folder = find_folder(SETS["fashion_mnist"], args.source)
    rng = np.random.default_rng(0)
    OUT.mkdir(parents=True, exist_ok=True)
    digests, moments = {}, None
    for split, per in PER_CLASS.items():
        src_x = next(p for p in folder.iterdir() if p.name.startswith(FILES[f"{split}_images"]))
        src_y = next(p for p in folder.iterdir() if p.name.startswith(FILES[f"{split}_labels"]))
        digests.update({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (src_x, src_y)})
        x, y = read_idx(src_x, IMAGES_MAGIC, (28, 28)), read_idx(src_y, LABELS_MAGIC)
        keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), per, replace=False) for c in range(10)]))
        for kind, magic, items in (("images", IMAGES_MAGIC, x[keep]), ("labels", LABELS_MAGIC, y[keep])):
            data = gzip.compress(idx_bytes(magic, items), compresslevel=9, mtime=0)  # byte-identical reruns
            (OUT / f"{FILES[f'{split}_{kind}']}.gz").write_bytes(data)
        if split == "train":
            moments = (float(x[keep].mean() / 255), float((x[keep] / 255).std()))
    lines = [f"- `{name}`: sha256 `{digest}`" for name, digest in sorted(digests.items())]
    card = CARD.format(sources="\n".join(lines), mean=moments[0], std=moments[1])
    (OUT / "README.md").write_text(card)
    print(f"wrote {OUT}: {sum(p.stat().st_size for p in OUT.glob('*.gz')) / 1e6:.2f} MB; "
          f"train mean {moments[0]:.4f}, std {moments[1]:.4f}")


CARD = """# fmnist12k: an embedded subset of Fashion-MNIST

A stratified, seeded subset of Fashion-MNIST (Xiao, Rasul & Vollgraf, "Fashion-MNIST: a Novel
Image Dataset for Benchmarking Machine Learning Algorithms", arXiv:1708.07747, 2017), shipped
so that distillnas has data where students differ on any machine, with no download.

- 10,000 training images: 1,000 per class, drawn from the official 60,000 training images.
- 2,000 test images: 200 per class, drawn from the official 10,000 test images (the test split).
- Drawn with `numpy.random.default_rng(0)`, one class after another, by `bench/make_fmnist12k.py`.
- 28x28 grey images, 10 classes (T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt,
  Sneaker, Bag, Ankle boot), stored as the four standard IDX files, gzipped.
- Normalisation: mean {mean:.4f}, std {std:.4f} of the subset's training images.

Made from these files of Debian's `dataset-fashion-mnist` package:

{sources}

## Licence

Fashion-MNIST is released under the MIT licence by Zalando SE; this subset carries it over.
The licence text is in `LICENSE` beside this file.
"""


if __name__ == "__main__":
    main()
