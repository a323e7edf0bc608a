"""Datasets streamed from disk (imagefolder, in_memory: false) and the memory-mapped teacher cache."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from distillnas.config import DataConfig
from distillnas.data import TensorLoader, make_views, prepare_data
from distillnas.data.files import FileImages
from distillnas.errors import DistillnasError
from distillnas.models import build_model
from distillnas.teachers import ModuleTeacher, TeacherCache


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A 3-class imagefolder of random 10x12 PNGs: 10 train and 3 val images per class."""
    root = tmp_path_factory.mktemp("imagefolder")
    rng = np.random.default_rng(0)
    for part, n in (("train", 10), ("val", 3)):
        for c in ("ant", "bee", "cow"):
            (root / part / c).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / part / c / f"{i}.png")
    return root


def _both(folder, workers: int = 0):
    """(in-memory, streamed) datasets of one folder: one normalisation, one set of splits."""
    cfg = DataConfig(name="imagefolder", root=str(folder), image_size=8, workers=workers)
    mem, splits = prepare_data(cfg.model_copy(update={"in_memory": True}))
    stream, stream_splits = prepare_data(cfg.model_copy(update={"in_memory": False}))
    assert all(torch.equal(splits.get(s), stream_splits.get(s)) for s in ("minitrain", "minival", "test"))
    assert mem.mean == stream.mean and mem.std == stream.std
    return mem, stream, splits


def test_streamed_dataset_reads_the_same_images(folder):
    mem, stream, _ = _both(folder)
    assert isinstance(stream.images, FileImages) and isinstance(mem.images, torch.Tensor)
    assert stream.images.shape == tuple(mem.images.shape) == (39, 3, 8, 8)
    assert torch.equal(stream.labels, mem.labels) and stream.test_start == mem.test_start == 30
    assert torch.equal(stream.images[torch.tensor([0, 17, 38])], mem.images[torch.tensor([0, 17, 38])])
    assert torch.equal(stream.images[5], mem.images[5]) and stream.identity == mem.identity


@pytest.mark.parametrize("workers", [0, 2])
def test_streamed_batches_equal_in_memory_batches(folder, workers):
    mem, stream, splits = _both(folder, workers)
    views = make_views(splits.minitrain, 3, mem.pad, mem.flip, 0)
    for augment in ("random", "views"):
        a = list(TensorLoader(mem, splits.minitrain, 7, shuffle=True, augment=augment, views=views, seed=3))
        b = list(TensorLoader(stream, splits.minitrain, 7, shuffle=True, augment=augment, views=views, seed=3))
        assert len(a) == len(b) == 4
        for x, y in zip(a, b):
            assert torch.equal(x.x, y.x) and torch.equal(x.y, y.y) and torch.equal(x.pos, y.pos)
            assert (x.view is None and y.view is None) or torch.equal(x.view, y.view)


def test_auto_streams_only_over_the_memory_limit(folder):
    cfg = DataConfig(name="imagefolder", root=str(folder), image_size=8)
    assert isinstance(prepare_data(cfg)[0].images, torch.Tensor)
    tiny = cfg.model_copy(update={"max_memory_gb": 1e-6})  # 1 kB < 39 * 3 * 8 * 8 bytes
    assert isinstance(prepare_data(tiny)[0].images, FileImages)
    with pytest.raises(DistillnasError, match="data.in_memory=false applies to imagefolder only"):
        prepare_data(DataConfig(name="digits", in_memory=False))


def test_unreadable_image_streams_as_black(folder, tmp_path, caplog):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    images = FileImages([str(folder / "train" / "ant" / "0.png"), str(bad)], 8, workers=0)
    with caplog.at_level("WARNING", logger="distillnas"):
        batch = images[torch.tensor([0, 1])]
    assert batch.shape == (2, 3, 8, 8) and batch[0].any() and not batch[1].any()
    assert "bad.png" in caplog.text


class _Dies:
    """A teacher that raises after `calls` batches: a killed cache fill."""

    def __init__(self, teacher: ModuleTeacher, calls: int) -> None:
        self.teacher, self.calls = teacher, calls
        self.identity, self.name = teacher.identity, teacher.name

    def to(self, device):  # noqa: ANN001
        return self

    def outputs(self, x, idx, features=False):  # noqa: ANN001
        if self.calls == 0:
            raise KeyboardInterrupt
        self.calls -= 1
        return self.teacher.outputs(x, idx, features)


def _teacher(ds) -> ModuleTeacher:  # noqa: ANN001
    torch.manual_seed(0)
    net = build_model("resnet8-w0.25", ds.num_classes, ds.in_channels, ds.input_size)
    return ModuleTeacher(net, "r8", "r8-test", ds.num_classes)


def test_cache_of_a_streamed_split_matches_and_a_killed_fill_resumes(folder, tmp_path):
    mem, stream, splits = _both(folder, workers=2)
    t = _teacher(mem)
    idx = splits.minitrain
    views = make_views(idx, 2, mem.pad, mem.flip, 0)
    whole = TeacherCache(None, batch_size=5).get(t, mem, "minitrain", idx, views, features=True)
    assert whole.logits.shape == (2, 1, len(idx), 3) and whole.features.shape[:3] == (2, 1, len(idx))
    # the fill dies after 2 batches (of 2 views each): one batch of examples is kept
    first = TeacherCache(tmp_path / "c", batch_size=5)
    with pytest.raises(KeyboardInterrupt):
        first.get(_Dies(t, 3), stream, "minitrain", idx, views, features=True)
    (meta,) = (tmp_path / "c").glob("*/meta.json")
    assert json.loads(meta.read_text())["done"] == 5
    again = TeacherCache(tmp_path / "c", batch_size=5)
    out = again.get(t, stream, "minitrain", idx, views, features=True)
    assert again.teacher_batches == 2 * (-(-(len(idx) - 5) // 5))  # only the missing examples ran
    assert torch.allclose(out.logits.float(), whole.logits.float(), atol=1e-3)
    assert torch.allclose(out.features.float(), whole.features.float(), atol=1e-3)
    # a finished entry is read, not recomputed, and it is read by index from the mapped file
    reader = TeacherCache(tmp_path / "c")
    read = reader.get(t, stream, "minitrain", idx, views, features=True)
    assert reader.teacher_batches == 0 and torch.equal(read.logits, out.logits)
    pos = torch.tensor([1, 4])
    assert torch.equal(read.batch(pos, torch.tensor([1, 0])).logits[0],
                       torch.stack([read.logits[1, 0, 1], read.logits[0, 0, 4]]).float())
    # a reader's in-place change stays in its copy: the file keeps what the teacher wrote
    before = read.logits[0, 0, 0].clone()
    read.logits[0, 0, 0] += 100
    assert torch.equal(TeacherCache(tmp_path / "c").get(t, stream, "minitrain", idx, views, True).logits[0, 0, 0],
                       before)
