"""Teacher outputs computed once per (teacher, dataset, split, views) and kept on disk.

How this meets augmentation: a split's examples each get K fixed augmented views (view 0 is
the plain image; the others are seeded crops/flips, see data.loader.make_views). The cache
holds the teacher's logits for every view, (K, members, n, classes), and the training
loader shows each example one of its K views per epoch. The student therefore sees K
different augmentations while the teacher is run exactly K passes over the split, once,
instead of once per epoch; K=1 is distillation on un-augmented inputs. Entries are keyed by
content (teacher identity, dataset hash, split indices, view table, normalisation), so
another split, seed or teacher never reads a stale entry.

On disk an entry is a directory of memory-mapped fp16 arrays (`logits.f16`, `features.f16`)
and `meta.json`, which records how many of the split's examples are done. The teacher
fills it a batch at a time (all views of a batch, from one decoding of its images), flushing
the arrays before the count moves on, so a killed fill resumes where it stopped, and a
reader pages in only the rows it indexes: ImageNet's logits need not fit in memory. A file
lock keeps two processes (parallel trials) from filling one entry at once.

Every filled chunk's CRC-32 is recorded in `meta.json` beside the count, and checked when the
entry is opened (one read of the files per process): rows overwritten on disk since they were
filled are computed again from the first chunk that fails, with a warning naming the file, or
refused when the cache is read-only. Entries from before the checksums are checked for
finite values instead.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..data import ImageDataset, Normalizer, ViewTable, crop_flip
from ..data.files import batches
from ..distill import TeacherOutput
from ..errors import DistillnasError, SetupError
from ..io import atomic_write_text
from ..ranks import ranks
from ..precision import FP32, Precision
from .base import Teacher

log = logging.getLogger("distillnas")


@dataclass
class CachedOutputs:
    """Teacher outputs for every view of a split: logits (K, M, n, C), features (K, M, n, D)."""

    logits: torch.Tensor
    features: torch.Tensor | None = None

    def batch(self, pos: torch.Tensor, view: torch.Tensor | None) -> TeacherOutput:
        """The outputs for examples at positions `pos`, each in its view (view 0 if None)."""
        v = torch.zeros_like(pos) if view is None else view
        logits = self.logits[v, :, pos].transpose(0, 1).float()  # (M, B, C)
        feats = None if self.features is None else self.features[v, :, pos].transpose(0, 1).float()
        return TeacherOutput(logits, feats)


class ShardedOutputs:
    """Outputs filled as contiguous parts by the ranks of a data-parallel run (one mapped
    entry per part), read like `CachedOutputs`: `batch` picks rows part by part."""

    def __init__(self, parts: list[CachedOutputs]) -> None:
        self.parts = parts
        self.starts = torch.tensor([0] + [int(p.logits.shape[2]) for p in parts]).cumsum(0)

    def batch(self, pos: torch.Tensor, view: torch.Tensor | None) -> TeacherOutput:
        part = torch.searchsorted(self.starts, pos, right=True) - 1
        pieces = []
        for k in part.unique().tolist():
            rows = (part == k).nonzero().flatten()
            got = self.parts[k].batch(pos[rows] - self.starts[k], None if view is None else view[rows])
            pieces.append((rows, got))
        order = torch.cat([rows for rows, _ in pieces]).argsort()
        logits = torch.cat([g.logits for _, g in pieces], dim=1)[:, order]
        feats = None if pieces[0][1].features is None else torch.cat([g.features for _, g in pieces], dim=1)[:, order]
        return TeacherOutput(logits, feats)

    @property
    def logits(self) -> torch.Tensor:
        """Member logits of the examples asked for, read from the entry's shards."""
        return torch.cat([p.logits for p in self.parts], dim=2)

    @property
    def features(self) -> torch.Tensor | None:
        """Member features of the examples asked for (None when not cached)."""
        return None if self.parts[0].features is None else torch.cat([p.features for p in self.parts], dim=2)


def cache_key(teacher: Teacher, ds: ImageDataset, split: str, indices: torch.Tensor, views: ViewTable,
              features: bool) -> str:
    """The cache entry's name: teacher identity, dataset, split, examples and views."""
    h = hashlib.sha256(f"{teacher.identity}|{ds.identity}|{split}|{ds.mean}|{ds.std}|{ds.pad}|{features}".encode())
    h.update(indices.numpy().tobytes())
    h.update(views.key.encode())
    return h.hexdigest()[:24]


class TeacherCache:
    """Disk (or memory-only, root=None) cache of teacher outputs; counts teacher passes."""

    def __init__(self, root: str | Path | None, batch_size: int = 500, device: str | torch.device = "cpu") -> None:
        self.root = Path(root) if root is not None else None
        self.batch_size, self.device = batch_size, torch.device(device)
        self.memory: dict[str, CachedOutputs] = {}
        self.teacher_batches = 0  # how many batches the teacher actually ran (for tests and benchmarks)

    def get(self, teacher: Teacher, ds: ImageDataset, split: str, indices: torch.Tensor, views: ViewTable,
            features: bool = False, precision: Precision = FP32) -> CachedOutputs:
        """The teacher's outputs for every view of the split, computed (under `precision`'s
        autocast, in inference mode; stored as fp16 whatever it is) only where not yet cached."""
        if not torch.equal(views.indices, indices):
            raise DistillnasError(f"the view table was made for other examples than split {split!r} "
                                  f"({len(views.indices)} against its {len(indices)})")
        key = cache_key(teacher, ds, split, indices, views, features)
        if key not in self.memory:
            if self.root is None:
                entry = _Entry.in_memory()
                self._fill(entry, teacher, ds, indices, views, features, precision)
            elif 1 < ranks().world <= len(indices):  # every rank gets a share to fill
                self.memory[key] = self._sharded(key, teacher, ds, split, indices, views, features, precision)
                return self.memory[key]
            else:
                with _locked(self.root / key) as folder:
                    self._fill(_Entry.open(folder, split), teacher, ds, indices, views, features, precision)
                    entry = _Entry.open(folder, split)  # complete: mapped copy-on-write, the file stays as filled
            self.memory[key] = entry.outputs()
        return self.memory[key]

    def _sharded(self, key: str, teacher: Teacher, ds: ImageDataset, split: str, indices: torch.Tensor,
                 views: ViewTable, features: bool, precision: Precision = FP32) -> ShardedOutputs:
        """Data-parallel ranks each fill their contiguous share of the split as a part entry
        (resumable like any entry), then all read every part: the teacher pass is split N ways."""
        group, n = ranks(), len(indices)
        parts = []
        for r in range(group.world):
            lo, hi = r * n // group.world, (r + 1) * n // group.world
            folder = self.root / key / f"part{r}of{group.world}"  # type: ignore[operator]
            if r == group.rank:
                part_views = views.part(lo, hi)
                with _locked(folder):
                    self._fill(_Entry.open(folder, split), teacher, ds, indices[lo:hi], part_views, features,
                               precision)
            parts.append(folder)
        torch.distributed.barrier()
        return ShardedOutputs([_Entry.open(folder, split).outputs() for folder in parts])

    def _fill(self, entry: "_Entry", teacher: Teacher, ds: ImageDataset, indices: torch.Tensor,
              views: ViewTable, features: bool, precision: Precision = FP32) -> None:
        """Run the teacher on the examples the entry still lacks, a batch (all views) at a time."""
        n, k = len(indices), views.num_views
        if entry.done >= n:
            return
        teacher.to(self.device)
        normalize = Normalizer(ds)
        positions = [torch.arange(s, min(s + self.batch_size, n)) for s in range(entry.done, n, self.batch_size)]
        for pos, raw in zip(positions, batches(ds.images, [indices[p] for p in positions])):
            outs = []
            for v in range(k):
                x = normalize(crop_flip(raw, *views.params(v, pos), ds.pad))
                with precision.autocast(self.device):
                    outs.append(teacher.outputs(x, indices[pos], features))
                self.teacher_batches += 1
            logits = torch.stack([o.logits.cpu() for o in outs])  # (K, M, B, C)
            feats = torch.stack([o.features.cpu() for o in outs]) if features else None  # type: ignore[union-attr]
            entry.write(int(pos[0]), logits, feats, n)


@contextmanager
def _locked(folder: Path) -> Iterator[Path]:
    """The entry's folder, held under an exclusive lock (one filler per entry across processes).
    Where the lock file cannot be made (a read-only cache), nobody can fill, so none is needed."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        handle = open(folder / "lock", "a")
    except OSError:
        yield folder
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _Entry:
    """One entry's arrays (fp16; memory-mapped files, or plain arrays for a memory-only cache)."""

    def __init__(self, folder: Path | None, split: str = "", meta: dict | None = None) -> None:
        self.folder, self.split = folder, split
        self.meta = meta or {}
        self.arrays: dict[str, np.ndarray] = {}
        if folder is not None and self.meta:
            # a finished entry is mapped copy-on-write: a reader's in-place change never reaches the file
            mode = "c" if self.done >= self.meta["logits"][2] else "r+"
            for name in _NAMES:
                shape = self.meta.get(name)
                if shape is not None:
                    self.arrays[name] = np.memmap(folder / f"{name}.f16", np.float16, mode, shape=tuple(shape))

    @classmethod
    def in_memory(cls) -> "_Entry":
        return cls(None)

    @classmethod
    def open(cls, folder: Path, split: str) -> "_Entry":
        """The entry as far as it was filled and still matches its checksums; a missing, torn or
        foreign one starts over."""
        try:
            meta = json.loads((folder / "meta.json").read_text())
            if int(meta["done"]) < 0 or "logits" not in meta:
                raise ValueError("no logits")
            meta = _verified(folder, meta)
            entry = cls(folder, split, meta)
            if "logits" not in entry.arrays:
                raise ValueError("no logits")
            return entry
        except (OSError, ValueError, KeyError, TypeError):
            return cls(folder, split)

    @property
    def done(self) -> int:
        return int(self.meta.get("done", 0))

    def write(self, start: int, logits: torch.Tensor, feats: torch.Tensor | None, n: int) -> None:
        """Store examples start.. (all views), then record them as done."""
        if not self.arrays:
            self._allocate(logits, feats, n)
        end = start + logits.shape[2]
        self.arrays["logits"][:, :, start:end] = logits.half().numpy()
        if feats is not None:
            self.arrays["features"][:, :, start:end] = feats.half().numpy()
        self.meta["done"] = end
        if self.folder is not None:
            self.meta.setdefault("crc", []).append([start, end, *(_crc(self.arrays[k], start, end)
                                                                  for k in _NAMES if k in self.arrays)])
            for a in self.arrays.values():
                a.flush()  # type: ignore[attr-defined]
            atomic_write_text(self.folder / "meta.json", json.dumps(self.meta))

    def _allocate(self, logits: torch.Tensor, feats: torch.Tensor | None, n: int) -> None:
        shapes = {"logits": (*logits.shape[:2], n, logits.shape[3])}
        if feats is not None:
            shapes["features"] = (*feats.shape[:2], n, feats.shape[3])
        for name, shape in shapes.items():
            self.arrays[name] = (np.zeros(shape, np.float16) if self.folder is None else
                                 np.memmap(self.folder / f"{name}.f16", np.float16, "w+", shape=shape))
        self.meta = {"split": self.split, "done": 0, **{k: list(v) for k, v in shapes.items()}, "crc": []}

    def outputs(self) -> CachedOutputs:
        as_t = lambda a: torch.from_numpy(a)  # noqa: E731 - shares the (mapped) memory, no copy
        feats = self.arrays.get("features")
        return CachedOutputs(as_t(self.arrays["logits"]), None if feats is None else as_t(feats))


_NAMES = ("logits", "features")


def _crc(array: np.ndarray, start: int, end: int) -> int:
    """CRC-32 of examples start..end of an entry's array (all views and members)."""
    return zlib.crc32(np.ascontiguousarray(array[:, :, start:end]).tobytes())


def _verified(folder: Path, meta: dict) -> dict:
    """`meta` with `done` moved back to the first chunk whose rows no longer match their CRC-32
    (or, for an entry from before the checksums, to 0 when a row is not finite). Raises when
    rows are bad and the cache cannot be written to fill them again."""
    done = int(meta["done"])
    if done == 0:
        return meta
    arrays = {k: np.memmap(folder / f"{k}.f16", np.float16, "r", shape=tuple(meta[k])) for k in _NAMES if meta.get(k)}
    good, bad_file = done, None
    if "crc" in meta:
        good = 0
        for start, end, *sums in meta["crc"]:
            if start != good or end > done:
                break
            wrong = [k for k, c in zip((k for k in _NAMES if k in arrays), sums) if _crc(arrays[k], start, end) != c]
            if wrong:
                bad_file = wrong[0]
                break
            good = end
    else:
        for k, a in arrays.items():
            if not np.isfinite(a[:, :, :done]).all():
                good, bad_file = 0, k
                break
    if good == done:
        return meta
    path = folder / f"{bad_file or 'logits'}.f16"
    if not os.access(folder, os.W_OK):
        raise SetupError(f"teacher cache file {path} was changed after it was filled (examples from {good} on do "
                         "not match their checksums) and the cache is read-only: delete the entry's folder "
                         f"{folder}, or give a writable run directory, to compute it again")
    log.warning("teacher cache file %s was changed after it was filled (examples %d..%d do not match their "
                "checksums): computing them again", path, good, done - 1)
    kept = [c for c in meta.get("crc", []) if c[1] <= good]
    return {**meta, "done": good, "crc": kept}
