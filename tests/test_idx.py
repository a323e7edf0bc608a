"""MNIST-format (IDX) datasets: fashion_mnist, mnist, kmnist from their four files."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from distillnas.data import load_dataset, make_splits
from distillnas.data.idx import FILES, IMAGES_MAGIC, LABELS_MAGIC
from distillnas.errors import DistillnasError

from test_cli import run


def _idx(magic: int, items: np.ndarray) -> bytes:
    dims = [len(items), *items.shape[1:]]
    return b"".join(int(v).to_bytes(4, "big") for v in [magic, *dims]) + items.astype(np.uint8).tobytes()


def write_idx(folder: Path, n_train: int = 40, n_test: int = 20, zipped: bool = True, seed: int = 0) -> Path:
    """Four tiny IDX files: each class a bright square at its own place, plus noise."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 60, (n, 28, 28))
        for i, c in enumerate(labels):
            images[i, 2 * c:2 * c + 8, 4:12] = 250
        for kind, magic, items in (("images", IMAGES_MAGIC, images), ("labels", LABELS_MAGIC, labels)):
            data = _idx(magic, items)
            name = FILES[f"{split}_{kind}"] + (".gz" if zipped else "")
            (folder / name).write_bytes(gzip.compress(data) if zipped else data)
    return folder


@pytest.mark.parametrize("zipped", [True, False])
def test_idx_files_load_gzipped_or_not_with_the_official_test_split(tmp_path, zipped):
    write_idx(tmp_path, zipped=zipped)
    ds = load_dataset("fashion_mnist", str(tmp_path))
    assert ds.images.shape == (60, 1, 28, 28) and ds.test_start == 40 and ds.num_classes == 10
    assert ds.labels[:10].tolist() == list(range(10)) and ds.flip  # clothes keep their class when mirrored
    assert load_dataset("mnist", str(tmp_path)).flip is False  # digits do not
    splits = make_splits(ds, 0.25, 0.2, seed=0)
    assert sorted(splits.test.tolist()) == list(range(40, 60)) and len(splits.minival) == 10


def test_torchvisions_layout_is_found_under_the_root(tmp_path):
    write_idx(tmp_path / "KMNIST" / "raw", zipped=False)
    assert len(load_dataset("kmnist", str(tmp_path))) == 60


def _corrupt(folder: Path, stem: str, change) -> Path:  # noqa: ANN001
    path = folder / (stem + ".gz")
    path.write_bytes(gzip.compress(change(gzip.decompress(path.read_bytes()))))
    return path


@pytest.mark.parametrize("stem,change,says", [
    (FILES["train_images"], lambda b: b[:-100], "truncated"),
    (FILES["train_images"], lambda b: b + b"xx", "trailing data"),
    (FILES["train_labels"], lambda b: (0x803).to_bytes(4, "big") + b[4:], "magic number 0x00000803, not 0x00000801"),
    (FILES["test_images"], lambda b: b[:8] + (14).to_bytes(4, "big") + b[12:], "items of 14x28, not 28x28"),
    (FILES["test_labels"], lambda b: b[:-1] + bytes([12]), "labels up to 12"),
    (FILES["test_labels"], lambda b: b[:4] + (19).to_bytes(4, "big") + b[8:-1], "20 test images but 19 test labels"),
    (FILES["train_images"], lambda b: b[:10], "shorter than an IDX header"),
])
def test_a_bad_idx_file_is_one_line_naming_it(tmp_path, capsys, stem, change, says):
    write_idx(tmp_path)
    bad = _corrupt(tmp_path, stem, change)
    with pytest.raises(DistillnasError, match=says) as e:
        load_dataset("fashion_mnist", str(tmp_path))
    assert str(bad.parent) in str(e.value)
    code, _, err = run(capsys, "train", "--arch", "resnet8-w0.25", "--dataset", "fashion_mnist", "--data-root",
                       str(tmp_path), "--loss", "ce", "--out", str(tmp_path / "out"))
    assert code == 2 and says in err and err.count("\n") == 1 and not (tmp_path / "out").exists()


def test_a_file_that_is_not_gzip_and_a_missing_folder_are_named(tmp_path):
    write_idx(tmp_path)
    (tmp_path / (FILES["train_labels"] + ".gz")).write_bytes(b"not gzip at all")
    with pytest.raises(DistillnasError, match="cannot be read as gzip"):
        load_dataset("fashion_mnist", str(tmp_path))
    with pytest.raises(DistillnasError, match="are not in '/nowhere' .*apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist", "/nowhere")


def test_a_tiny_idx_dataset_trains_end_to_end(tmp_path, capsys):
    write_idx(tmp_path, n_train=200, n_test=50)
    code, out, err = run(capsys, "train", "--arch", "resnet8-w0.25", "--dataset", "fashion_mnist", "--data-root",
                         str(tmp_path), "--loss", "ce", "--epochs", "2", "--optim.batch_size=32",
                         "--out", str(tmp_path / "out"), "--no-progress")
    assert code == 0, err
    assert (tmp_path / "out" / "results.json").is_file()


REAL = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not (REAL / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
def test_the_real_fashion_mnist_files_are_found_without_a_root():
    ds = load_dataset("fashion_mnist")
    assert ds.images.shape == (70000, 1, 28, 28) and ds.test_start == 60000
    assert np.bincount(ds.labels[:60000].numpy()).tolist() == [6000] * 10
    assert np.bincount(ds.labels[60000:].numpy()).tolist() == [1000] * 10
    train = ds.images[:60000].double() / 255  # the moments we normalise with are the training images'
    assert abs(train.mean().item() - ds.mean[0]) < 1e-3 and abs(train.std().item() - ds.std[0]) < 1e-3


def test_the_embedded_fmnist12k_subset_is_stratified_and_needs_no_download():
    ds = load_dataset("fmnist12k")
    assert ds.name == "fmnist12k" and ds.images.shape == (12000, 1, 28, 28) and ds.test_start == 10000
    assert np.bincount(ds.labels[:10000].numpy()).tolist() == [1000] * 10
    assert np.bincount(ds.labels[10000:].numpy()).tolist() == [200] * 10
    train = ds.images[:10000].double() / 255
    assert abs(train.mean().item() - ds.mean[0]) < 1e-3 and abs(train.std().item() - ds.std[0]) < 1e-3
    card = Path(__file__).resolve().parents[1] / "src" / "distillnas" / "data" / "fmnist12k"
    assert "MIT" in (card / "LICENSE").read_text() and "Zalando SE" in (card / "README.md").read_text()
    assert sum(p.stat().st_size for p in card.iterdir()) < 6e6
    with pytest.raises(DistillnasError, match="takes no --data-root"):
        load_dataset("fmnist12k", "/somewhere")
