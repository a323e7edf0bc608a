"""Can I trust the proxy? Retrain a sample of a finished search's students and compare.

`calibrate_run` picks K students spread evenly over the search's proxy ranking (its best
included), retrains each with the run's final recipe (its loss and teacher; epochs and seeds
may be overridden) on mini-train, scores them on the holdout split (training images the run's
`data.train_subset` left out, up to 10,000) where it is at least as large as mini-val, else on
mini-val - never on the test set, which stays untouched for the final report - and measures how
the proxy ranked them. Why the holdout: a 1,000-image mini-val scores a 92 % student with a
binomial sd of 0.86 points, as wide as the gaps between a search's top students, so the
retraining's own seeds could not agree on a ranking there (issue 42 item 4). Measured:
Kendall tau and Spearman of proxy accuracy against retrained accuracy (and of proxy reward
against the reward the retrained accuracy earns), each with a bootstrap 95 % interval over the
sampled students, the seed noise floor of the retraining (tau between two seeds' accuracies),
and where the proxy's top-1 lands after retraining. A multi-fidelity run is ranked by each
student's highest rung (what the strategy was told), and each rung gets its own tau against the
retraining over the sampled students that reached it: which rung of the ladder ranks like the
final training (with `fidelity.eta: 1` every student reaches every rung).

Resumable like a search: each (student, seed) result is kept in
RUN/calibrate/<loss>-e<epochs>/ as it finishes, so a killed calibration loses at most the
training in progress and a second call trains only what is missing. Students are trained in
an order whose every prefix spans the ranking (best, worst, midpoints), so a calibration stopped
part way can be measured as it stands (`finished_only`) over a spread sample.
"""
from __future__ import annotations

import hashlib
import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy import stats

from .data import prepare_data
from .errors import DistillnasError
from .io import atomic_write_text, ensure_dir
from .reward import RewardConfig, trial_reward
from .rundir import RunDir
from .section import MAX_SEEDS
from .spaces import student_of
from .teachers import TeacherCache, load_teacher
from .training import train_student

MAX_ARCHS = 1000
RESAMPLES = 2000


@dataclass
class Calibration:
    """What `calibrate_run` measured (see the module docstring)."""

    run: str
    recipe: str
    archs: list[str]
    proxy_accuracy: list[float]
    proxy_reward: list[float]
    final_accuracy: list[float]  # mean over seeds, on `split`
    final_reward: list[float]
    per_seed: list[list[float]]  # [arch][seed]
    seeds: list[int]
    tau: float
    tau_interval: tuple[float, float]
    spearman: float
    spearman_interval: tuple[float, float]
    reward_tau: float
    reward_tau_interval: tuple[float, float]
    noise_tau: float | None  # tau between two retraining seeds: the best any proxy can do
    top1_rank: int  # where the proxy's best student lands after retraining (1 = still the best)
    verdict: str
    # per fidelity rung of a multi-fidelity run: {fidelity, archs, tau, tau_interval} (empty: one fidelity)
    ladder: list[dict[str, Any]] = field(default_factory=list)
    split: str = "minival"  # where the retrained students were scored: holdout or minival
    trained_now: int = 0
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for calibration.json and the report."""
        return asdict(self)


def calibrate_run(run_dir: str | Path, archs: int = 8, epochs: float | None = None, seeds: list[int] | None = None,
                  device: str = "auto", precision: str = "auto", progress: bool = False,
                  finished_only: bool = False, on_result: Callable[[str, int, float], None] | None = None) -> Calibration:
    """Retrain `archs` students of a finished search and measure how its proxy ranked them.

    Args:
        run_dir: a finished search run.
        archs: how many students to retrain (>= 3), spread evenly over the proxy ranking.
        epochs: retraining epochs (default: the run's final.optim.epochs).
        seeds: retraining seeds (default: the run's final.seeds; two or more give a noise floor).
        device, precision: as for training.
        progress: progress bars / log lines for each retraining.
        finished_only: train nothing; measure over the sampled students whose retraining has
            finished under every seed (a calibration stopped part way; at least 3 needed).
        on_result: called with (arch, seed, accuracy) after each retraining that ran now.

    Raises:
        DistillnasError: not a finished run, too few successful students, or bad counts -
            before any training.
    """
    if not 3 <= archs <= MAX_ARCHS:
        raise DistillnasError(f"--archs {archs}: give 3..{MAX_ARCHS} students (a rank correlation needs 3)")
    run = RunDir(run_dir)
    cfg, best = run.load()
    reward = RewardConfig.model_validate(best.get("reward") or cfg.reward.model_dump())
    seed_list = list(seeds if seeds is not None else cfg.final.seeds)
    if not 1 <= len(seed_list) <= MAX_SEEDS:
        raise DistillnasError(f"give 1..{MAX_SEEDS} seeds, got {len(seed_list)}")
    tcfg = cfg.final.train_config(epochs, device=device, precision=precision)
    pool = _students(run, reward)
    if len(pool) < 3:
        raise DistillnasError(f"run {str(run)!r} has {len(pool)} successful distinct student(s); calibration "
                              "needs at least 3")
    sample = _spread(pool, min(archs, len(pool)))
    recipe = f"{tcfg.loss.name}-e{tcfg.optim.epochs:g}".replace("*", "x").replace("+", "_")
    folder = ensure_dir(run.path / "calibrate" / recipe, "calibration directory")
    ds, splits = prepare_data(cfg.data)
    specs = run.teacher_members(cfg)
    teacher = load_teacher(specs, ds) if specs and tcfg.loss.name != "ce" and not finished_only else None
    cache = TeacherCache(run.teacher_cache)
    space = best.get("space")
    split = "holdout" if len(splits.holdout) >= max(1, len(splits.minival)) else "minival"
    marks = {(i, seed): folder / f"{hashlib.sha1(t['arch'].encode()).hexdigest()[:16]}-seed{seed}.json"
             for i, t in enumerate(sample) for seed in seed_list}
    trained, wall = 0, 0.0
    for i in [] if finished_only else _coverage_order(len(sample)):
        t = sample[i]
        for seed in seed_list:
            mark = marks[i, seed]
            if split in _read_mark(mark):  # done (a mark kept before the holdout split existed is retrained)
                continue
            student = student_of(t["arch"], space, ds.num_classes, ds.in_channels, ds.input_size)
            r = train_student(student, tcfg, ds, splits, teacher=teacher, cache=cache, seed=seed,
                              train_split="minitrain", eval_splits=("minival",) if split == "minival" else ("minival", split),
                              progress=progress)
            if r.status != "ok":
                raise DistillnasError(f"retraining {t['arch'][:60]} (seed {seed}) {r.status}: {r.error}")
            atomic_write_text(mark, json.dumps({"arch": t["arch"], "seed": seed, "accuracy": r.metrics["minival"],
                                                "holdout": r.metrics.get("holdout"), "wall_s": r.wall_s}))
            trained, wall = trained + 1, wall + r.wall_s
            if on_result is not None:
                on_result(t["arch"], seed, float(r.metrics[split]))
    done = [i for i in range(len(sample)) if all(split in _read_mark(marks[i, s]) for s in seed_list)]
    if len(done) < 3:
        raise DistillnasError(f"{len(done)} of {len(sample)} students have finished retraining under every seed "
                              f"in {folder}; --finished-only needs at least 3 (run without it to train them)")
    per_seed = [[float(_read_mark(marks[i, s])[split]) for s in seed_list] for i in done]
    notes = [] if len(done) == len(sample) else [
        f"{len(done)} of {len(sample)} sampled students finished retraining; the measures cover those only"]
    sample = [sample[i] for i in done]
    result = _measure(str(run), recipe, sample, per_seed, seed_list, reward)
    result.trained_now, result.wall_s, result.split, result.notes = trained, wall, split, notes
    atomic_write_text(folder / "calibration.json", json.dumps(result.as_dict(), indent=1))
    return result


def _read_mark(mark: Path) -> dict[str, float]:
    """A finished retraining's scores by split ({} if it has not finished)."""
    if not mark.is_file():
        return {}
    doc = json.loads(mark.read_text())
    return {k: float(v) for k, v in (("minival", doc["accuracy"]), ("holdout", doc.get("holdout"))) if v is not None}


def _students(run: RunDir, reward: RewardConfig) -> list[dict[str, Any]]:
    """Each distinct successful student once, best proxy reward first: its trial at the highest
    fidelity it reached (the best of those), with its accuracy at every rung in `rungs`."""
    store = run.store(readonly=True)
    try:
        trials = store.trials("ok")
    finally:
        store.close()
    best: dict[str, dict[str, Any]] = {}
    rungs: dict[str, dict[float, float]] = {}
    for t in trials:
        if t["accuracy"] is None or t.get("extra", {}).get("reused_from") is not None:
            continue
        fid = t.get("extra", {}).get("fidelity")
        t = {**t, "reward": trial_reward(t, reward), "fidelity": fid}
        if fid is not None:
            rungs.setdefault(t["arch"], {})[float(fid)] = float(t["accuracy"])
        key = lambda u: (u["fidelity"] or 0.0, u["reward"])  # noqa: E731
        if t["arch"] not in best or key(t) > key(best[t["arch"]]):
            best[t["arch"]] = t
    return sorted(({**t, "rungs": rungs.get(a, {})} for a, t in best.items()), key=lambda t: -t["reward"])


def _spread(pool: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """k students evenly spaced over the ranking: the best, the worst and between."""
    idx = sorted({int(round(i)) for i in np.linspace(0, len(pool) - 1, k)})
    return [pool[i] for i in idx]


def _coverage_order(k: int) -> list[int]:
    """The order to train k rank-sorted students in so that any prefix spans the ranking: the
    best, the worst, then the midpoints of ever finer gaps. A calibration stopped part way
    (`finished_only`) then measures a spread sample, not only the proxy's top."""
    if k <= 2:
        return list(range(k))
    order, gaps = [0, k - 1], [(0, k - 1)]
    while gaps:
        nxt = []
        for lo, hi in gaps:
            if hi - lo > 1:
                mid = (lo + hi) // 2
                order.append(mid)
                nxt += [(lo, mid), (mid, hi)]
        gaps = nxt
    return order


def _measure(run: str, recipe: str, sample: list[dict[str, Any]], per_seed: list[list[float]], seeds: list[int],
             reward: RewardConfig) -> Calibration:
    proxy_acc = np.array([t["accuracy"] for t in sample], dtype=float)
    proxy_rew = np.array([t["reward"] for t in sample], dtype=float)
    final = np.array([float(np.mean(r)) for r in per_seed])
    final_rew = np.array([trial_reward({**t, "accuracy": a}, reward) for t, a in zip(sample, final)])
    tau, tau_ci = _with_interval(lambda i: _kendall(proxy_acc[i], final[i]), len(final))
    rho, rho_ci = _with_interval(lambda i: _spearman(proxy_acc[i], final[i]), len(final))
    rtau, rtau_ci = _with_interval(lambda i: _kendall(proxy_rew[i], final_rew[i]), len(final))
    grid = np.array(per_seed)
    noise = None
    if grid.shape[1] >= 2:
        pairs = [_kendall(grid[:, a], grid[:, b]) for a in range(grid.shape[1]) for b in range(a + 1, grid.shape[1])]
        noise = float(np.nanmean(pairs))
    top1_rank = int(1 + np.sum(final > final[0]))  # the sample's first is the proxy's best
    return Calibration(run, recipe, [t["arch"] for t in sample], proxy_acc.tolist(), proxy_rew.tolist(), final.tolist(),
                       final_rew.tolist(), grid.tolist(), seeds, tau, tau_ci, rho, rho_ci, rtau, rtau_ci, noise,
                       top1_rank, _verdict(tau, tau_ci, noise), ladder=_ladder(sample, final))


def _ladder(sample: list[dict[str, Any]], final: np.ndarray) -> list[dict[str, Any]]:
    """Each fidelity rung's Kendall tau against the retraining, over the sampled students that
    reached it (a rung reached by fewer than 3 is left out: no rank correlation)."""
    out = []
    for fid in sorted({f for t in sample for f in t.get("rungs", {})}):
        idx = [i for i, t in enumerate(sample) if fid in t["rungs"]]
        if len(idx) < 3:
            continue
        x = np.array([sample[i]["rungs"][fid] for i in idx])
        y = final[idx]
        tau, ci = _with_interval(lambda j: _kendall(x[j], y[j]), len(idx))
        out.append({"fidelity": fid, "archs": len(idx), "tau": tau, "tau_interval": ci})
    return out


def _kendall(x: np.ndarray, y: np.ndarray) -> float:
    with warnings.catch_warnings():  # a constant column (all at chance, say) ranks nothing: 0, not NaN
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        value = stats.kendalltau(x, y).statistic
    return float(value) if math.isfinite(value) else 0.0


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        value = stats.spearmanr(x, y).statistic
    return float(value) if math.isfinite(value) else 0.0


def _with_interval(stat: Callable[[np.ndarray], float], n: int, seed: int = 0) -> tuple[float, tuple[float, float]]:
    """The statistic on all n students and its bootstrap 95 % interval (students resampled)."""
    rng = np.random.default_rng(seed)
    values = [stat(rng.integers(0, n, n)) for _ in range(RESAMPLES)]
    lo, hi = np.percentile(values, [2.5, 97.5])
    return stat(np.arange(n)), (float(lo), float(hi))


def _verdict(tau: float, ci: tuple[float, float], noise: float | None) -> str:
    floor = f"; two retraining seeds agree at tau {noise:.2f}" if noise is not None else ""
    if ci[0] > 0:
        return f"the proxy ranks like the final training (tau {tau:+.2f}, 95% interval [{ci[0]:+.2f}, {ci[1]:+.2f}]{floor})"
    return f"the proxy ranks no better than chance here (tau {tau:+.2f}, 95% interval [{ci[0]:+.2f}, {ci[1]:+.2f}] holds 0{floor})"
