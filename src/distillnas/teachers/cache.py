"""Teacher outputs computed once per (teacher, dataset, split, views) and kept on disk.

How this meets augmentation: a split's examples each get K fixed augmented views (view 0 is
the plain image; the others are seeded crops/flips, see data.loader.make_views). The cache
holds the teacher's logits for every view, (K, members, n, classes), and the training
loader shows each example one of its K views per epoch. The student therefore sees K
different augmentations while the teacher is run exactly K passes over the split, once,
instead of once per epoch; K=1 is distillation on un-augmented inputs. Entries are keyed by
content (teacher identity, dataset hash, split indices, view table, normalisation), so
another split, seed or teacher never reads a stale entry.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data import ImageDataset, Normalizer, ViewTable, render_view
from ..distill import TeacherOutput
from ..errors import DistillnasError
from ..io import atomic_torch_save, safe_torch_load


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


def cache_key(teacher, ds: ImageDataset, split: str, indices: torch.Tensor, views: ViewTable,  # noqa: ANN001
              features: bool) -> str:
    h = hashlib.sha256(f"{teacher.identity}|{ds.identity}|{split}|{ds.mean}|{ds.std}|{ds.pad}|{features}".encode())
    for t in (indices, views.dx, views.dy, views.flip):
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:24]


class TeacherCache:
    """Disk (or memory-only, root=None) cache of teacher outputs; counts teacher passes."""

    def __init__(self, root: str | Path | None, batch_size: int = 500, device: str | torch.device = "cpu") -> None:
        self.root = Path(root) if root is not None else None
        self.batch_size, self.device = batch_size, torch.device(device)
        self.memory: dict[str, CachedOutputs] = {}
        self.teacher_batches = 0  # how many batches the teacher actually ran (for tests and benchmarks)

    def get(self, teacher, ds: ImageDataset, split: str, indices: torch.Tensor, views: ViewTable,  # noqa: ANN001
            features: bool = False) -> CachedOutputs:
        key = cache_key(teacher, ds, split, indices, views, features)
        if key in self.memory:
            return self.memory[key]
        path = self.root / f"{key}.pt" if self.root is not None else None
        out = self._read(path) if path is not None and path.is_file() else None
        if out is None:
            out = self._compute(teacher, ds, indices, views, features)
            if path is not None:
                self._write(path, out, split)
        self.memory[key] = out
        return out

    @staticmethod
    def _read(path: Path) -> CachedOutputs | None:
        """The stored entry, or None for a torn or foreign file (then it is recomputed)."""
        try:
            data = safe_torch_load(path, "teacher cache entry")
            return CachedOutputs(data["logits"], data.get("features"))
        except (DistillnasError, KeyError, TypeError, AttributeError):
            return None

    @staticmethod
    def _write(path: Path, out: CachedOutputs, split: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_torch_save(path, {"logits": out.logits, "features": out.features, "split": split})

    def _compute(self, teacher, ds: ImageDataset, indices: torch.Tensor, views: ViewTable,  # noqa: ANN001
                 features: bool) -> CachedOutputs:
        if views.dx.shape[1] != len(indices):
            raise DistillnasError(f"view table covers {views.dx.shape[1]} examples, split has {len(indices)}")
        teacher.to(self.device)
        normalize = Normalizer(ds)
        logits, feats = [], []
        for v in range(views.num_views):
            lv, fv = [], []
            for start in range(0, len(indices), self.batch_size):
                pos = torch.arange(start, min(start + self.batch_size, len(indices)))
                out = teacher.outputs(render_view(ds, indices, views, v, pos, normalize), indices[pos], features)
                self.teacher_batches += 1
                lv.append(out.logits.cpu().half())
                if features:
                    fv.append(out.features.cpu().half())  # type: ignore[union-attr]
            logits.append(torch.cat(lv, dim=1))
            if features:
                feats.append(torch.cat(fv, dim=1))
        return CachedOutputs(torch.stack(logits), torch.stack(feats) if features else None)
