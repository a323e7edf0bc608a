"""Numbers behind the figures and tables; pure numpy, tested on hand-made inputs."""
from __future__ import annotations

import itertools
import math
import statistics
from typing import Any, Sequence

import numpy as np


def pareto_front(cost: Sequence[float], accuracy: Sequence[float]) -> list[int]:
    """Indices of points no other point beats on both (lower cost, higher accuracy), by cost."""
    order = sorted(range(len(cost)), key=lambda i: (cost[i], -accuracy[i]))
    front, best = [], -math.inf
    for i in order:
        if accuracy[i] > best:
            front.append(i)
            best = accuracy[i]
    return front


def pca(x: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(projection (n, k), explained variance ratio (k,)) by SVD of the centred data."""
    centred = x - x.mean(0, keepdims=True)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    var = s ** 2
    ratio = var[:k] / max(var.sum(), 1e-12)
    return centred @ vt[:k].T, ratio


def stages(n: int, count: int) -> list[range]:
    """Split n trials (in order) into `count` consecutive search stages."""
    edges = np.linspace(0, n, count + 1).round().astype(int)
    return [range(edges[i], edges[i + 1]) for i in range(count) if edges[i + 1] > edges[i]]


def option_difference(a: np.ndarray, b: np.ndarray, names: list[str]) -> list[dict[str, Any]]:
    """Per one-hot option: p_A - p_B over two sets of archs, its standard error and z = diff / se,
    sorted by |z| (AKD Fig. 8)."""
    pa, pb = a.mean(0), b.mean(0)
    se = np.sqrt(pa * (1 - pa) / len(a) + pb * (1 - pb) / len(b))
    z = np.where(se > 0, (pa - pb) / np.maximum(se, 1e-12), 0.0)
    rows = [{"option": n, "p_a": float(x), "p_b": float(y), "diff": float(x - y), "se": float(s), "z": float(zz)}
            for n, x, y, s, zz in zip(names, pa, pb, se, z)]
    return sorted(rows, key=lambda r: -abs(r["z"]))


def relative_gain(kd_a: float, ce_a: float, kd_b: float, ce_b: float) -> float:
    """AKD eq. 1: [KD(A) - CE(A)] - [KD(B) - CE(B)]."""
    return (kd_a - ce_a) - (kd_b - ce_b)


def gains_by_stage(a: dict[str, tuple[float, float, int]], b: dict[str, tuple[float, float, int]]) -> list[dict]:
    """For archs with both CE and KD finals, {arch: (kd, ce, stage)} per run: per stage, the mean
    relative gain over all (A, B) pairs and the share of pairs where A gains more (AKD Table 4)."""
    out = []
    for stage in sorted({s for *_, s in a.values()} | {s for *_, s in b.values()}):
        pairs = [relative_gain(ka, ca, kb, cb) for (ka, ca, sa), (kb, cb, sb)
                 in itertools.product(a.values(), b.values()) if sa == stage and sb == stage]
        if pairs:
            out.append({"stage": stage, "pairs": len(pairs), "mean_gain": float(np.mean(pairs)),
                        "winning_ratio": float(np.mean([g > 0 for g in pairs]))})
    return out


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b between two score lists over the same items."""
    concordant = discordant = ties_x = ties_y = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
        if dx == 0 and dy == 0:
            continue
        if dx == 0:
            ties_x += 1
        elif dy == 0:
            ties_y += 1
        elif dx == dy:
            concordant += 1
        else:
            discordant += 1
    denom = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denom if denom else 0.0


def distribution_matrices(probs: list[np.ndarray], eps: float = 1e-8) -> dict[str, np.ndarray]:
    """Over sources (teachers and the one-hot truth), each (n, C) probabilities:
    mean KL(p_i || p_j), mean L2 distance ||p_i - p_j||, and top-1 agreement (AKD Fig. 2).
    KL uses p clamped at eps, so KL against a one-hot row is finite."""
    k = len(probs)
    kl, l2, agree = np.zeros((k, k)), np.zeros((k, k)), np.zeros((k, k))
    logs = [np.log(np.clip(p, eps, 1.0)) for p in probs]
    for i, j in itertools.product(range(k), range(k)):
        kl[i, j] = float((probs[i] * (logs[i] - logs[j])).sum(1).mean())
        l2[i, j] = float(np.linalg.norm(probs[i] - probs[j], axis=1).mean())
        agree[i, j] = float((probs[i].argmax(1) == probs[j].argmax(1)).mean())
    return {"kl": kl, "l2": l2, "agreement": agree}


def mean_std(values: Sequence[float], count: bool = False) -> str:
    """'mean ± std' in percent of accuracies in [0, 1] ('-' for none), optionally with n."""
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.2f} ± {100 * sd:.2f}" + (f" (n={len(values)})" if count else "")
