"""MNIST-format datasets from the standard IDX files: fashion_mnist, mnist and kmnist.

Each is four files, gzipped or not: train-images-idx3-ubyte, train-labels-idx1-ubyte,
t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (60,000 train + 10,000 test 28x28 grey images
of 10 classes). They are looked for, in order, in the folder given by --data-root (data.root),
its torchvision layout ROOT/<Name>/raw/, and the system's copy: Debian's
`dataset-fashion-mnist` package installs Fashion-MNIST in /usr/share/datasets/fashion-mnist/.
The official test set is the test split (`test_start`); mini-train and mini-val come from
the training files.

The IDX format (LeCun et al.): a big-endian header of magic number (0x00000801 for a label
file, 0x00000803 for an image file), item count and, for images, rows and columns, then one
unsigned byte per label or pixel. Every file is checked against it (magic number, count
against the file's size, 28x28 images, labels in 0..9, images and labels of one split in
equal number) and a bad one is one line naming it.

Fashion-MNIST: Xiao, Rasul & Vollgraf, "Fashion-MNIST: a Novel Image Dataset for
Benchmarking Machine Learning Algorithms", arXiv:1708.07747, 2017 (MIT licence). KMNIST:
Clanuwat et al., "Deep Learning for Classical Japanese Literature", 2018 (CC BY-SA 4.0).
"""
from __future__ import annotations

import dataclasses
import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DistillnasError
from .base import ImageDataset

FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801
MAX_ITEMS = 10_000_000  # a header claiming more is not an MNIST-format file


@dataclass(frozen=True)
class IdxSet:
    """One MNIST-format dataset: its name, torchvision's folder name, where a system keeps it,
    and the moments of its training images (normalisation)."""

    name: str
    torchvision: str
    system: tuple[str, ...]
    mean: float
    std: float


SETS = {
    "fashion_mnist": IdxSet("fashion_mnist", "FashionMNIST", ("/usr/share/datasets/fashion-mnist",), 0.2860, 0.3530),
    "mnist": IdxSet("mnist", "MNIST", ("/usr/share/datasets/mnist",), 0.1307, 0.3081),
    "kmnist": IdxSet("kmnist", "KMNIST", (), 0.1918, 0.3483),
}
HOW_TO_GET = {"fashion_mnist": "apt-get install dataset-fashion-mnist (Debian, Ubuntu), or the four files from "
                               "the Fashion-MNIST repository (zalandoresearch)",
              "mnist": "the four files of the MNIST database, or torchvision.datasets.MNIST(ROOT, download=True)",
              "kmnist": "the four files of KMNIST (rois-codh), or torchvision.datasets.KMNIST(ROOT, download=True)"}


def _file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def find_folder(spec: IdxSet, root: str | None) -> Path:
    """The first folder holding all four files: ROOT, ROOT/<Name>/raw, then the system's copy."""
    candidates = []
    if root is not None:
        base = Path(root).expanduser()
        candidates += [base, base / spec.torchvision / "raw", base / spec.torchvision]
    else:
        candidates += [Path(p) for p in spec.system]
    for folder in candidates:
        if all(_file(folder, stem) for stem in FILES.values()):
            return folder
    where = (f"{str(Path(root).expanduser())!r} (nor its {spec.torchvision}/raw/)" if root is not None else
             "any default location" + (f" ({', '.join(spec.system)})" if spec.system else ""))
    raise DistillnasError(f"dataset {spec.name!r}: the four IDX files ({', '.join(FILES.values())}, .gz or not) "
                          f"are not in {where}; get them with {HOW_TO_GET[spec.name]}"
                          + ("" if root is not None else ", then give their folder as --data-root"))


def read_idx(path: Path, magic: int, shape: tuple[int, ...] = ()) -> np.ndarray:
    """An IDX file's items as uint8, checked: magic number, item shape, count against size."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise DistillnasError(f"{path}: cannot be read as {'gzip' if path.suffix == '.gz' else 'a file'} "
                              f"({type(e).__name__}: {e})") from None
    dims = 1 + len(shape)
    head = 4 + 4 * dims
    if len(raw) < head:
        raise DistillnasError(f"{path}: {len(raw)} bytes, shorter than an IDX header; not an MNIST-format file")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        kind = "image" if magic == IMAGES_MAGIC else "label"
        raise DistillnasError(f"{path}: magic number {found:#010x}, not {magic:#010x} of an IDX {kind} file")
    sizes = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    count, item = sizes[0], tuple(sizes[1:])
    if item != shape:
        raise DistillnasError(f"{path}: items of {'x'.join(map(str, item))}, not {'x'.join(map(str, shape))}")
    if not 0 < count <= MAX_ITEMS:
        raise DistillnasError(f"{path}: a header of {count:,} items; expected 1..{MAX_ITEMS:,}")
    need = head + count * int(np.prod(shape, dtype=np.int64))
    if len(raw) != need:
        raise DistillnasError(f"{path}: {len(raw):,} bytes where its header of {count:,} items needs {need:,} "
                              f"({'truncated' if len(raw) < need else 'trailing data'})")
    return np.frombuffer(raw, np.uint8, offset=head).reshape(count, *shape)


def load_idx(name: str, root: str | None = None) -> ImageDataset:
    """The dataset `name` (fashion_mnist | mnist | kmnist) from its IDX files (module docstring)."""
    spec = SETS[name]
    folder = find_folder(spec, root)
    parts = {}
    for key, stem in FILES.items():
        path = _file(folder, stem)
        images = key.endswith("images")
        parts[key] = read_idx(path, IMAGES_MAGIC if images else LABELS_MAGIC, (28, 28) if images else ())
    for split in ("train", "test"):
        n_img, n_lab = len(parts[f"{split}_images"]), len(parts[f"{split}_labels"])
        if n_img != n_lab:
            raise DistillnasError(f"{folder}: {n_img:,} {split} images but {n_lab:,} {split} labels")
        if int(parts[f"{split}_labels"].max()) > 9:
            raise DistillnasError(f"{_file(folder, FILES[f'{split}_labels'])}: labels up to "
                                  f"{int(parts[f'{split}_labels'].max())}; an MNIST-format set has 10 classes (0..9)")
    images = np.concatenate([parts["train_images"], parts["test_images"]])[:, None]
    labels = np.concatenate([parts["train_labels"], parts["test_labels"]]).astype(np.int64)
    return ImageDataset(name, torch.from_numpy(images), torch.from_numpy(labels), 10, mean=(spec.mean,),
                        std=(spec.std,), flip=name == "fashion_mnist", pad=2,
                        test_start=len(parts["train_labels"]))


EMBEDDED = Path(__file__).resolve().parent / "fmnist12k"


def fmnist12k(root: str | None = None) -> ImageDataset:
    """The embedded Fashion-MNIST subset (no download): 10,000 train + 2,000 test images, 1,000 /
    200 per class, seeded (bench/make_fmnist12k.py; its card and MIT licence sit beside the files)."""
    if root is not None:
        raise DistillnasError("dataset 'fmnist12k' ships with distillnas and takes no --data-root; for the full "
                              "set use --dataset fashion_mnist")
    ds = load_idx("fashion_mnist", str(EMBEDDED))
    return dataclasses.replace(ds, name="fmnist12k", mean=(0.2840,), std=(0.3513,), _identity=[])


def fashion_mnist(root: str | None = None) -> ImageDataset:
    """Fashion-MNIST from its IDX files (Debian's package, torchvision's layout or `root`)."""
    return load_idx("fashion_mnist", root)


def mnist(root: str | None = None) -> ImageDataset:
    """MNIST from its IDX files (torchvision's layout or `root`)."""
    return load_idx("mnist", root)


def kmnist(root: str | None = None) -> ImageDataset:
    """Kuzushiji-MNIST from its IDX files (torchvision's layout or `root`)."""
    return load_idx("kmnist", root)
