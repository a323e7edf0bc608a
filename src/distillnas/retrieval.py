"""Open-set retrieval with distractors: AKD §6-7 (Tables 9-10) in miniature, MegaFace-style.

A student is trained on some classes only (`data.classes`; by CE, or by distilling a
teacher's penultimate features with `feature_mse`), and evaluated on the classes it never
saw, as identities: for each probe image of a held-out class, the gallery holds one other
image of the same class (its match) and N distractors drawn from the other held-out
classes; the probe is identified when its match is the gallery's nearest image by cosine
similarity of the penultimate embeddings. Top-1 identification rate is reported against N
(10, 100, 1000, as far as the held-out examples allow), averaged over probes, with the
probes, matches and distractors drawn from a seeded generator, so every student is scored
on the same galleries.

The held-out classes are taken from the whole pool (every split): neither the student nor a
teacher trained with the same `data.classes` has seen any of their images.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from .checkpoint import read_checkpoint
from .data import ImageDataset, Normalizer
from .errors import DistillnasError
from .teachers import expand_spec

DISTRACTORS = (10, 100, 1000)


@dataclass
class RetrievalResult:
    """Retrieval on held-out classes with a student's embedding: identification rate by number of distractors."""
    classes: list[int]  # the held-out classes retrieved among
    probes: int
    distractors: list[int]
    top1: list[float]  # identification rate per distractor count

    def as_dict(self) -> dict:
        return asdict(self)


def heldout(ds: ImageDataset, trained: list[int]) -> torch.Tensor:
    """Pool indices of every example whose class was not trained on."""
    idx = torch.nonzero(~torch.isin(ds.labels, torch.tensor(sorted(set(trained))))).squeeze(1)
    if len(torch.unique(ds.labels[idx])) < 2:
        raise DistillnasError(f"retrieval needs at least 2 held-out classes; data.classes={sorted(set(trained))} "
                              f"leaves {len(torch.unique(ds.labels[idx]))} of {ds.num_classes}")
    return idx


@torch.no_grad()
def embed(model: torch.nn.Module, ds: ImageDataset, idx: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """L2-normalised penultimate features (N, D) of the pool examples idx."""
    model.eval()
    norm, dev = Normalizer(ds), next(model.parameters()).device
    feats = [model.forward_features(norm(ds.images[idx[i:i + batch]]).to(dev)).float().cpu()
             for i in range(0, len(idx), batch)]
    return F.normalize(torch.cat(feats), dim=1)


def identification(emb: torch.Tensor, labels: torch.Tensor, distractors: tuple[int, ...] = DISTRACTORS,
                   probes: int = 500, seed: int = 0) -> tuple[list[int], list[float], int]:
    """(distractor counts used, top-1 rate per count, probes) over seeded probe galleries."""
    gen = torch.Generator().manual_seed(seed)
    n = len(labels)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    fewest_others = int((~same).sum(1).min())
    counts = [d for d in distractors if d <= fewest_others] or [fewest_others]
    order = torch.randperm(n, generator=gen)[:probes]
    order = order[(same[order].sum(1) > 1)]  # a probe needs a match of its own class
    sim = emb @ emb.T
    hits = torch.zeros(len(counts))
    for i in order.tolist():
        mates = torch.nonzero(same[i]).squeeze(1)
        mates = mates[mates != i]
        match = mates[torch.randint(len(mates), (1,), generator=gen)]
        others = torch.nonzero(~same[i]).squeeze(1)
        others = others[torch.randperm(len(others), generator=gen)]
        for k, d in enumerate(counts):  # nested galleries: each count adds distractors to the last
            hits[k] += float(sim[i, match] > sim[i, others[:d]].max())
    return counts, (hits / max(1, len(order))).tolist(), len(order)


def evaluate_retrieval(model: torch.nn.Module, ds: ImageDataset, trained: list[int], probes: int = 500,
                       seed: int = 0) -> RetrievalResult:
    """Top-1 open-set identification of `model` among the classes outside `trained`."""
    idx = heldout(ds, trained)
    counts, top1, used = identification(embed(model, ds, idx), ds.labels[idx], probes=probes, seed=seed)
    return RetrievalResult(sorted(torch.unique(ds.labels[idx]).tolist()), used, counts, top1)


def check_retrieval_teacher(specs: list[str], classes: list[int]) -> None:
    """Refuse a teacher that may have seen the held-out classes: each member must be a
    distillnas checkpoint whose recorded training data kept exactly `classes` (a teacher
    trained on every class would lend the student what it knows of the classes retrieved
    among, and the open-set score would no longer be open-set)."""
    want = sorted(set(classes))
    for spec in expand_spec(specs):
        try:
            data = read_checkpoint(spec).get("config", {}).get("data", {})
        except DistillnasError:
            raise DistillnasError(f"--task retrieval: teacher {spec!r} is not a distillnas checkpoint, so the classes "
                                  "it was trained on are unknown; give a teacher trained with the same "
                                  f"--data.classes={want} (distillnas teacher train --data.classes=...)") from None
        seen = data.get("classes") if isinstance(data, dict) else None
        if seen is None or sorted(set(seen)) != want:
            shown = "every class" if seen is None else f"classes {sorted(set(seen))}"
            raise DistillnasError(f"--task retrieval: teacher {spec!r} was trained on {shown}, not the student's "
                                  f"--data.classes={want}: it has seen classes held out for retrieval. Train the "
                                  "teacher with the same --data.classes")
