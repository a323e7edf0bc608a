"""Teacher comparison (AKD Fig. 2, KDAS Table 5) from cached teacher outputs."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data import ImageDataset, make_views
from ..teachers import TeacherCache, ensemble_report
from .metrics import distribution_matrices


@dataclass
class TeacherComparison:
    """Teachers compared on the same examples: accuracy, agreement and the oracle's gain."""
    names: list[str]  # teachers, then "ground truth"
    accuracy: list[float]  # per teacher (an ensemble: its average-logit accuracy)
    matrices: dict[str, np.ndarray]
    ensembles: dict[str, dict]  # per ensemble teacher: members, average, oracle, right_counts


def compare_teachers(teachers: list[tuple[str, object]], ds: ImageDataset, split: str, indices: torch.Tensor,
                     cache: TeacherCache | None = None) -> TeacherComparison:
    """Compare teachers' cached outputs on one split (accuracies, pairwise agreement, oracle)."""
    cache = cache or TeacherCache(None)
    views = make_views(indices, 1, ds.pad, ds.flip, 0)
    labels = ds.labels[indices]
    probs, acc, ensembles = [], [], {}
    for name, teacher in teachers:
        logits = cache.get(teacher, ds, split, indices, views).logits[0].float()  # (members, n, C)
        mean = logits.mean(0)
        probs.append(torch.softmax(mean, -1).numpy())
        acc.append(float((mean.argmax(-1) == labels).float().mean()))
        if logits.shape[0] > 1:
            ensembles[name] = ensemble_report(logits, labels).as_dict()
    probs.append(np.eye(ds.num_classes, dtype=np.float32)[labels.numpy()])
    return TeacherComparison([n for n, _ in teachers] + ["ground truth"], acc, distribution_matrices(probs), ensembles)
