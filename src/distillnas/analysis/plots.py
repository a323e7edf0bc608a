"""Figures (matplotlib, Agg): each function saves one PNG and returns its path."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402

from .metrics import pareto_front, pca, stages  # noqa: E402
from .runs import RunData  # noqa: E402

UNITS = {"latency_ms": "latency (ms)", "macs": "MACs (millions)", "params": "parameters (thousands)"}
SCALE = {"latency_ms": 1.0, "macs": 1e-6, "params": 1e-3}


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _cost(run: RunData) -> tuple[str, np.ndarray, float]:
    metric = run.config.reward.metric
    values = np.array([t[metric] or 0.0 for t in run.ok], dtype=float) * SCALE[metric]
    return metric, values, run.config.reward.limit * SCALE[metric]


def cost_histogram(run: RunData, path: Path) -> Path:
    """How the run's trials spread over the cost metric, with the target marked."""
    metric, cost, target = _cost(run)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(cost, bins=min(30, max(5, len(cost) // 3)), color="tab:blue", alpha=0.8, label="sampled students")
    if math.isfinite(target):  # no line where the reward has no cost target (mode none)
        ax.axvline(target, color="tab:red", ls="--", label=f"target {target:.3g}")
    ax.set(xlabel=UNITS[metric], ylabel="students", title=f"{run.name}: sampled {UNITS[metric].split(' (')[0]}")
    ax.legend()
    return _save(fig, path)


def accuracy_vs_cost(run: RunData, path: Path) -> Path:
    """Every trial's accuracy against its cost, the target and the front found."""
    metric, cost, target = _cost(run)
    acc = 100 * np.array([t["accuracy"] for t in run.ok])
    front = pareto_front(list(cost), list(acc))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(cost, acc, s=14, alpha=0.6, label="sampled students")
    ax.plot(cost[front], acc[front], "o-", color="tab:orange", label="Pareto front")
    if math.isfinite(target):
        ax.axvline(target, color="tab:red", ls="--", label=f"target {target:.3g}")
    ax.set(xlabel=UNITS[metric], ylabel="proxy top-1 (%)", title=f"{run.name}: accuracy vs {metric}")
    ax.legend()
    return _save(fig, path)


def progress_over_trials(run: RunData, path: Path) -> Path:
    """Cost and accuracy trial by trial: where the search spent its evaluations as it went."""
    metric, cost, target = _cost(run)
    acc = 100 * np.array([t["accuracy"] for t in run.ok])
    idx = np.array([t["id"] for t in run.ok])
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(6, 5.5), sharex=True)
    a1.scatter(idx, cost, s=10, alpha=0.6)
    if math.isfinite(target):
        a1.axhline(target, color="tab:red", ls="--", label=f"target {target:.3g}")
        a1.legend()
    a1.set(ylabel=UNITS[metric], title=f"{run.name}: cost and accuracy along the search")
    a2.scatter(idx, acc, s=10, alpha=0.6, color="tab:green")
    a2.set(xlabel="trial", ylabel="proxy top-1 (%)")
    return _save(fig, path)


def search_dynamics(run: RunData, path: Path) -> Path | None:
    """Mean accuracy of what the strategy proposed per batch (repeats included: they are what
    it was told; shared weights under a supernet) and the controller's entropy per batch: a
    learning controller's entropy falls while its proposals' accuracy rises."""
    by_batch: dict[int, list[float]] = {}
    for t in run.ok:
        by_batch.setdefault(t["batch"], []).append(100 * t["accuracy"])
    if not by_batch:
        return None
    fig, a1 = plt.subplots(figsize=(6, 3.5))
    batches = sorted(by_batch)
    shared = run.config.evaluator.shares_weights
    a1.plot(batches, [np.mean(by_batch[b]) for b in batches], "o-", color="tab:green", ms=3,
            label="mean accuracy proposed" + (" (shared weights)" if shared else ""))
    a1.set(xlabel="batch", ylabel="top-1 (%)", title=f"{run.name}: proposals' accuracy and controller entropy")
    a1.xaxis.set_major_locator(MaxNLocator(integer=True))  # batches are whole numbers
    entropy = {b: s["entropy"] for b, s in run.batch_stats.items() if "entropy" in s}
    handles = a1.get_legend_handles_labels()[0]
    if entropy:
        a2 = a1.twinx()
        handles += a2.plot(list(entropy), list(entropy.values()), "s--", color="tab:purple", ms=3,
                           label="controller entropy")
        a2.set_ylabel("entropy per decision (nats)")
    # one legend, centre right: the rising reward ends high and the falling entropy low there
    a1.legend(handles=handles, loc="center right", fontsize=8)
    return _save(fig, path)


def macs_vs_latency(run: RunData, path: Path) -> Path | None:
    """Measured latency against MACs: how well the machine-independent cost predicts this one."""
    lat = np.array([t["latency_ms"] or 0.0 for t in run.ok])
    macs = np.array([t["macs"] or 0.0 for t in run.ok]) / 1e6
    if (lat > 0).sum() < 3:
        return None
    slope, intercept = np.polyfit(lat, macs, 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(lat, macs, s=14, alpha=0.6, label="sampled students")
    xs = np.linspace(lat.min(), lat.max(), 50)
    ax.plot(xs, slope * xs + intercept, color="tab:red", label=f"MMACs = {slope:.2f} x ms {intercept:+.2f}")
    ax.set(xlabel="latency (ms)", ylabel="MACs (millions)", title=f"{run.name}: MACs vs measured latency")
    ax.legend()
    return _save(fig, path)


def pca_by_stage(a: RunData, b: RunData, path: Path, count: int = 4) -> Path:
    """Two runs' archs (one-hot) in the same 2-D PCA, stage by stage: where each search went."""
    xa, xb = a.one_hot(), b.one_hot()
    proj, ratio = pca(np.concatenate([xa, xb]))
    pa, pb = proj[: len(xa)], proj[len(xa):]
    sa, sb = stages(len(xa), count), stages(len(xb), count)
    n = min(len(sa), len(sb))
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.6), sharex=True, sharey=True, squeeze=False)
    for i in range(n):
        ax = axes[0, i]
        ax.scatter(pa[sa[i], 0], pa[sa[i], 1], s=12, alpha=0.6, label=f"{a.name} ({a.guided_by})")
        ax.scatter(pb[sb[i], 0], pb[sb[i], 1], s=12, alpha=0.6, marker="x", label=f"{b.name} ({b.guided_by})")
        ax.set(title=f"stage {i + 1}/{n}", xlabel=f"PC1 ({100 * ratio[0]:.0f}%)")
        if i == 0:
            ax.set_ylabel(f"PC2 ({100 * ratio[1]:.0f}%)")
            ax.legend(fontsize=7)
    return _save(fig, path)


def option_difference_bars(rows: list[dict], a: str, b: str, path: Path, top: int = 20) -> Path:
    """The options two runs' top archs choose at different rates, largest first."""
    rows = rows[:top][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(rows) + 1.5))
    ax.barh([r["option"] for r in rows], [r["diff"] for r in rows], xerr=[r["se"] for r in rows],
            color=["tab:blue" if r["diff"] > 0 else "tab:orange" for r in rows])
    ax.axvline(0, color="black", lw=0.8)
    ax.set(xlabel=f"P(option | top archs of {a}) - P(option | top archs of {b})",
           title="options that separate the two searches (sorted by significance)")
    return _save(fig, path)


def heatmap(matrix: np.ndarray, names: list[str], title: str, path: Path, fmt: str = "{:.2f}") -> Path:
    """A labelled matrix (e.g. Kendall tau between tables' columns) as a heat map."""
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 2.5, 1.0 * len(names) + 1.5))
    im = ax.imshow(matrix, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, fmt.format(matrix[i, j]), ha="center", va="center", color="white", fontsize=8)
    ax.set_title(title)
    fig.colorbar(im, ax=ax)
    return _save(fig, path)


def scatter_grid(columns: dict[str, np.ndarray], path: Path) -> Path:
    """Every pair of columns against each other (one point per arch), with the diagonal."""
    names = list(columns)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    fig, axes = plt.subplots(1, len(pairs), figsize=(4 * len(pairs), 4), squeeze=False)
    for ax, (a, b) in zip(axes[0], pairs):
        x, y = columns[a], columns[b]
        ax.scatter(x, y, s=6, alpha=0.5)
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        ax.plot([lo, hi], [lo, hi], color="grey", linewidth=0.8)
        ax.set_xlabel(f"{a} (%)")
        ax.set_ylabel(f"{b} (%)")
    return _save(fig, path)


def gain_scatter(gains: dict[str, np.ndarray], path: Path) -> Path:
    """Per pair of columns, every arch's gain A - B under seed 0 against under seed 1: a
    teacher that prefers some students makes the two agree (points along the diagonal), seed
    noise alone leaves a round cloud. Pearson r in the title."""
    fig, axes = plt.subplots(1, len(gains), figsize=(4 * len(gains), 4), squeeze=False)
    for ax, (name, d) in zip(axes[0], gains.items()):
        ax.scatter(d[:, 0], d[:, 1], s=6, alpha=0.5)
        lo, hi = float(d.min()), float(d.max())
        ax.plot([lo, hi], [lo, hi], color="grey", linewidth=0.8)
        ax.set_title(f"{name}: r = {np.corrcoef(d[:, 0], d[:, 1])[0, 1]:.2f}", fontsize=9)
        ax.set_xlabel("gain, seed 0 (points)")
        ax.set_ylabel("gain, seed 1 (points)")
    return _save(fig, path)


def calibration_scatter(cal: dict, path: Path) -> Path:
    """Proxy accuracy against retrained accuracy (each seed a dot, the mean a ring) for
    `distillnas calibrate`: a trustworthy proxy puts the rings on a rising line."""
    fig, ax = plt.subplots(figsize=(6, 4))
    proxy = 100 * np.array(cal["proxy_accuracy"])
    seeds = 100 * np.array(cal["per_seed"])
    for k in range(seeds.shape[1]):
        ax.scatter(proxy, seeds[:, k], s=10, alpha=0.5, color="tab:gray", label="a retraining seed" if k == 0 else None)
    ax.scatter(proxy, seeds.mean(axis=1), s=40, facecolors="none", edgecolors="tab:blue", label="mean over seeds")
    lo, hi = cal["tau_interval"]
    ax.set(xlabel="proxy top-1 on mini-val (%)", ylabel=f"retrained top-1 on {cal.get('split', 'minival')} (%)",
           title=f"proxy vs {cal['recipe']}: Kendall tau {cal['tau']:+.2f} [{lo:+.2f}, {hi:+.2f}]")
    ax.legend()
    return _save(fig, path)
