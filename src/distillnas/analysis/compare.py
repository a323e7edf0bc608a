"""AKD's premise measured between benchmark tables over the same archs.

`compare_tables` puts tables side by side: Kendall tau and Spearman between every pair of columns,
the noise floor (tau between a column's own seeds), top-k overlap (beside that of a column's own
seeds), each column's best student
and where it ranks in the others, and the rank reversals that exceed seed noise (pairs whose
order flips between two columns while both seeds of each column agree). Rank statistics are
scipy.stats'.

Seed noise alone lowers tau and makes reversals, so each pair of columns is also measured at
the noise floor's own level: tau between *unmatched* seeds of the two columns (A's seed 0
against B's seed 1 and the reverse; matched seeds share initial weights and batch order
whatever the teacher) against the columns' seed-to-seed tau. Their difference is the
*teacher effect* on the ranking, with a paired bootstrap interval over archs (Efron &
Tibshirani, 1993): an interval that holds 0 means the teachers rank the archs no more
differently than two seeds of one teacher do.

The same question on accuracies rather than ranks, as a paired test: per arch and seed, the
difference between the two columns, D = A - B. If the teacher shifted every student alike, D
would vary between archs only as much as between an arch's two seeds; a one-way ANOVA of D
with archs as groups and seeds as blocks (a seed's shift common to every arch taken out)
tests exactly that (F = MS_archs / MS_residual, df n-1 and (n-1)(r-1); scipy.stats.f), i.e.
the arch x teacher interaction of a two-way ANOVA, with the error taken from D itself. (The
two-way ANOVA's pooled within-cell error is wrong here: matched seeds share initial weights
and batch order across columns, so their noise is correlated; on the mnist5k tables that
made its F 0.6-0.8, far below 1.) Beside it, the
sizes in accuracy points (random-effects components, clipped at 0): the sd across archs of
their true gain from one teacher to the other, against the sd of the archs' own accuracy
(their mean over the two columns) and the seed sd of one column; the gain's sd has a one-sided
95% upper bound from the F distribution (Montgomery, "Design and Analysis of Experiments",
on confidence intervals for variance components), so a null result says how small.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from ..benchmarks import BenchmarkTable, read_benchmark
from ..errors import DistillnasError
from .plots import gain_scatter, scatter_grid
from .report import _img, _table


@dataclass
class TableComparison:
    """What `table compare` measures between two columns of one space (see the module docstring)."""
    names: list[str]
    keys: list[str]  # archs every table holds, in a fixed order
    accuracy: dict[str, np.ndarray]  # name -> mean accuracy (%) per key
    tau: dict[tuple[str, str], float] = field(default_factory=dict)
    spearman: dict[tuple[str, str], float] = field(default_factory=dict)
    noise_floor: dict[str, float | None] = field(default_factory=dict)  # tau between the column's two seeds
    top: int = 10  # k of the top-k overlaps
    top_overlap: dict[tuple[str, str], float] = field(default_factory=dict)
    top_floor: dict[str, float | None] = field(default_factory=dict)  # top-k overlap of the column's two seeds
    unmatched_top: dict[tuple[str, str], float] = field(default_factory=dict)  # as unmatched_tau, for top-k
    best: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {key, accuracy, rank in others}
    reversals: dict[tuple[str, str], int] = field(default_factory=dict)  # beyond seed noise
    pairs: int = 0  # arch pairs compared for reversals
    unmatched_tau: dict[tuple[str, str], float] = field(default_factory=dict)  # A seed i vs B seed j, i != j
    effect: dict[tuple[str, str], TeacherEffect] = field(default_factory=dict)
    crossed_reversals: dict[tuple[str, str], int] = field(default_factory=dict)  # the same count, seeds crossed
    interaction: dict[tuple[str, str], Interaction] = field(default_factory=dict)  # arch x column ANOVA
    gains: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # A - B per arch (rows) and seed


@dataclass(frozen=True)
class TeacherEffect:
    """Mean seed-to-seed tau of the two columns minus their unmatched-seed tau, with a 95%
    percentile bootstrap interval over archs: above 0, the teacher changes the ranking."""
    effect: float
    low: float
    high: float
    resamples: int


@dataclass(frozen=True)
class Interaction:
    """The arch x column interaction as a paired one-way ANOVA (module docstring)."""
    f: float
    p: float
    df: tuple[int, int]
    sd_interaction: float  # accuracy points: sd across archs of their true A - B difference
    sd_arch: float  # sd across archs of their true accuracy (mean of A and B)
    sd_seed: float  # one column's seed-to-seed sd (pooled)
    sd_interaction_high: float  # its one-sided 95% upper confidence bound


def _components(x: np.ndarray) -> tuple[float, float]:
    """(MS between archs, MS residual) of an (archs x seeds) array, seeds as blocks: what a
    seed shifts for every arch alike (its batch order, say) is taken out of the residual."""
    n, r = x.shape
    rows, cols = x.mean(1, keepdims=True), x.mean(0, keepdims=True)
    residual = x - rows - cols + x.mean()
    return r * float(((rows - x.mean()) ** 2).sum()) / (n - 1), float((residual ** 2).sum()) / ((n - 1) * (r - 1))


def interaction(a: np.ndarray, b: np.ndarray) -> Interaction:
    """The paired test for two (archs x seeds) arrays over the same archs, seeds matched."""
    n, r = a.shape
    between, within = _components(a - b)
    arch_b, arch_w = _components((a + b) / 2)
    df = (n - 1, (n - 1) * (r - 1))
    seed = (float(a.var(1, ddof=1).mean()) + float(b.var(1, ddof=1).mean())) / 2
    gain = math.sqrt(max(between - within, 0.0) / r)
    if within > 0:
        f = between / within
        # F / (1 + r var_gain / MS_residual) follows F(df): its 5% quantile bounds var_gain from above
        high = math.sqrt(max(f / stats.f.ppf(0.05, *df) - 1, 0.0) * within / r)
    else:  # the seeds agree exactly on every difference: no noise, the gain's sd is what it is
        f, high = (math.inf if between > 0 else 0.0), gain
    return Interaction(f, float(stats.f.sf(f, *df)), df, gain, math.sqrt(max(arch_b - arch_w, 0.0) / r),
                       math.sqrt(seed), high)


def seed_matrix(table: BenchmarkTable, keys: list[str]) -> np.ndarray | None:
    cols = table.seed_columns
    if len(cols) < 2:
        return None
    return np.array([[table.rows[k][table.columns.index(c)] for c in cols[:2]] for k in keys])


def _agree(seeds: np.ndarray) -> np.ndarray:
    """+1 where both seeds put row i above row j, -1 where both put it below, 0 otherwise."""
    a = np.sign(seeds[:, 0][:, None] - seeds[:, 0][None, :])
    b = np.sign(seeds[:, 1][:, None] - seeds[:, 1][None, :])
    return np.where(a == b, a, 0)


def _reversals(sa: np.ndarray, sb: np.ndarray) -> int:
    """Pairs whose order flips between two (archs x 2 seeds) columns while each column's seeds agree."""
    return int(np.triu(_agree(sa) * _agree(sb) < 0, 1).sum())


def _tau(x: np.ndarray, y: np.ndarray) -> float:
    return float(stats.kendalltau(x, y).statistic)


def _effect(sa: np.ndarray, sb: np.ndarray) -> tuple[float, float]:
    """(floor - unmatched tau, unmatched tau) for archs x 2 seeds arrays."""
    unmatched = (_tau(sa[:, 0], sb[:, 1]) + _tau(sa[:, 1], sb[:, 0])) / 2
    return (_tau(sa[:, 0], sa[:, 1]) + _tau(sb[:, 0], sb[:, 1])) / 2 - unmatched, unmatched


def teacher_effect(sa: np.ndarray, sb: np.ndarray, effect: float, resamples: int, seed: int = 0) -> TeacherEffect:
    """`effect` (from `_effect`) with its bootstrap interval (archs resampled with replacement,
    the same archs for every tau of a resample)."""
    rng = np.random.default_rng(seed)
    boot = [_effect(sa[i], sb[i])[0] for i in (rng.integers(0, len(sa), len(sa)) for _ in range(resamples))]
    low, high = np.percentile(boot, [2.5, 97.5])
    return TeacherEffect(effect, float(low), float(high), resamples)


def ranks(values: np.ndarray) -> np.ndarray:
    """1 = best (highest accuracy)."""
    return stats.rankdata(-values, method="min").astype(int)


def compare_tables(paths: list[str], names: list[str] | None = None, top: int = 10,
                   resamples: int = 1000) -> TableComparison:
    """Every pair of columns compared; with 2 seeds per arch, also the teacher effect (with a
    bootstrap interval when `resamples` > 0)."""
    if len(paths) < 2:
        raise DistillnasError(f"table compare needs two or more tables, got {len(paths)}")
    if top < 1:
        raise DistillnasError(f"top-k overlap needs k >= 1, got {top}")
    if not 0 <= resamples <= 100_000:
        raise DistillnasError(f"resamples must be in 0..100000, got {resamples}")
    if names is not None and len(names) != len(paths):
        raise DistillnasError(f"{len(names)} names ({', '.join(names)}) for {len(paths)} tables; give one name per "
                              "table, comma-separated")
    tables = [read_benchmark(p) for p in paths]
    names = names or [Path(p).stem for p in paths]
    if len(set(names)) != len(names):
        raise DistillnasError(f"table names must differ, got {names}")
    keys = sorted(set.intersection(*(set(t.accuracy) for t in tables)))
    if len(keys) < 3:
        raise DistillnasError(f"the tables share {len(keys)} archs; comparing rankings needs 3 or more")
    acc = {n: np.array([100 * t.accuracy[k] for k in keys]) for n, t in zip(names, tables)}
    k = min(top, len(keys))
    cmp = TableComparison(names, keys, acc, top=k, pairs=len(keys) * (len(keys) - 1) // 2)
    seeds = {n: seed_matrix(t, keys) for n, t in zip(names, tables)}
    for n in names:
        s = seeds[n]
        cmp.noise_floor[n] = None if s is None else float(stats.kendalltau(s[:, 0], s[:, 1]).statistic)
        cmp.top_floor[n] = None if s is None else _top_overlap(s[:, 0], s[:, 1], k)
        i = int(np.argmax(acc[n]))
        cmp.best[n] = {"arch": keys[i], "accuracy": float(acc[n][i]),
                       "rank_in": {o: int(ranks(acc[o])[i]) for o in names if o != n}}
    for a, b in combinations(names, 2):
        cmp.tau[a, b] = float(stats.kendalltau(acc[a], acc[b]).statistic)
        cmp.spearman[a, b] = float(stats.spearmanr(acc[a], acc[b]).statistic)
        cmp.top_overlap[a, b] = _top_overlap(acc[a], acc[b], k)
        if seeds[a] is not None and seeds[b] is not None:
            sa, sb = seeds[a], seeds[b]
            cmp.reversals[a, b] = _reversals(sa, sb)
            cmp.crossed_reversals[a, b] = _reversals(np.stack([sa[:, 0], sb[:, 1]], 1), np.stack([sb[:, 0], sa[:, 1]], 1))
            effect, cmp.unmatched_tau[a, b] = _effect(sa, sb)
            cmp.interaction[a, b], cmp.gains[a, b] = interaction(sa, sb), sa - sb
            cmp.unmatched_top[a, b] = (_top_overlap(sa[:, 0], sb[:, 1], k) + _top_overlap(sa[:, 1], sb[:, 0], k)) / 2
            if resamples > 0:
                cmp.effect[a, b] = teacher_effect(sa, sb, effect, resamples)
    return cmp


def _top_overlap(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """The share of x's k best archs that are among y's k best."""
    return len(set(np.argsort(-x)[:k]) & set(np.argsort(-y)[:k])) / k


def comparison_rows(cmp: TableComparison) -> list[dict[str, Any]]:
    """The comparison as printable rows (one per statistic, with its noise floor)."""
    rows = []
    for (a, b), tau in cmp.tau.items():
        rows.append({"A": a, "B": b, "kendall tau": tau, "spearman": cmp.spearman[a, b],
                     "tau noise floor A": cmp.noise_floor[a] if cmp.noise_floor[a] is not None else "-",
                     "tau noise floor B": cmp.noise_floor[b] if cmp.noise_floor[b] is not None else "-",
                     f"top-{cmp.top} overlap": cmp.top_overlap[a, b],
                     f"top-{cmp.top} overlap of seeds A / B": "/".join(
                         "-" if cmp.top_floor[n] is None else f"{cmp.top_floor[n]:.2f}" for n in (a, b)),
                     f"top-{cmp.top} overlap, unmatched seeds": cmp.unmatched_top.get((a, b), "-"),
                     "reversals beyond seed noise": cmp.reversals.get((a, b), "-"),
                     "the same, seeds crossed": cmp.crossed_reversals.get((a, b), "-"),
                     "tau, unmatched seeds": cmp.unmatched_tau.get((a, b), "-")})
        e = cmp.effect.get((a, b))
        if e is not None:
            rows[-1]["teacher effect on tau (95% CI)"] = f"{e.effect:+.3f} [{e.low:+.3f}, {e.high:+.3f}]"
        i = cmp.interaction.get((a, b))
        if i is not None:
            rows[-1]["arch x column interaction F (p)"] = f"{i.f:.2f} (p = {i.p:.2g})"
            rows[-1]["interaction sd (95% upper bound) / arch sd / seed sd, points"] = \
                f"{i.sd_interaction:.3f} ({i.sd_interaction_high:.3f}) / {i.sd_arch:.3f} / {i.sd_seed:.3f}"
    return rows


def verdict(cmp: TableComparison, a: str, b: str, alpha: float = 0.05) -> str | None:
    """AKD's premise for one pair of columns in a sentence (tables with 2 seeds per arch):
    the interaction test at level `alpha`, sized against how much archs differ."""
    i, e = cmp.interaction.get((a, b)), cmp.effect.get((a, b))
    if i is None:
        return None
    tau = "" if e is None else (f"; teacher effect on tau {e.effect:+.3f}, 95% CI "
                                f"{'holds' if e.low <= 0 <= e.high else 'excludes'} 0")
    size = (f"an arch's change in accuracy between them varies by {i.sd_interaction:.2f} points (sd; at most "
            f"{i.sd_interaction_high:.2f} at 95%) against {i.sd_arch:.2f} points between archs")
    if i.p < alpha:
        return f"{a} vs {b}: teacher-specific preferences beyond seed noise (F {i.f:.2f}, p {i.p:.2g}{tau}): {size}."
    return f"{a} vs {b}: no teacher-specific preference beyond seed noise (F {i.f:.2f}, p {i.p:.2g}{tau}): {size}."


def comparison_report(cmp: TableComparison, out: str | Path) -> Path:
    """index.html with the statistics, the best students and the scatter plots; PNG beside it."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    best = [{"column": n, "best arch": b["arch"], "accuracy (%)": b["accuracy"],
             **{f"rank in {o}": b["rank_in"].get(o, 1) for o in cmp.names}} for n, b in cmp.best.items()]
    fig = scatter_grid(cmp.accuracy, out / "scatter.png")
    body = (f"<h1>Benchmark tables compared</h1><p>{len(cmp.keys)} archs in every table; {cmp.pairs:,} arch pairs. "
            f"Top-k overlap with k = {cmp.top}, beside that of each column's own two seeds (its noise floor) "
            "and that of unmatched seeds (below), which compares with it directly. A reversal is a pair whose order flips between two "
            "columns while both seeds of each column agree on it; <i>seeds crossed</i> counts them between (A seed 0, "
            "B seed 1) and (B seed 0, A seed 1), two columns that differ by seed noise only, for reference. "
            "<i>tau, unmatched seeds</i> (A's seed 0 against B's "
            "seed 1 and the reverse) compares directly with the noise floors; the <i>teacher effect</i> is their "
            "mean minus it, with a 95% bootstrap interval over archs: 0 inside it means these teachers rank the "
            "archs no more differently than two seeds of one teacher do. The <i>arch x column interaction</i> asks "
            "the same of accuracies: does an arch's gain from one column to the other vary between archs more "
            "than between its two seeds (a paired ANOVA, F and p)? Its sd, in accuracy points, is how much that "
            "gain truly varies between archs (with a 95% upper bound), beside how much archs differ (arch sd) "
            "and one seed's scatter (seed sd).</p>"
            + _table(comparison_rows(cmp))
            + "".join(f"<p>{html.escape(v)}</p>" for v in (verdict(cmp, a, b) for a, b in cmp.tau) if v)
            + "<h2>Best student per column</h2>" + _table(best)
            + _img(fig, "mean accuracy (%) of every arch, column against column")
            + (_img(gain_scatter({f"{a} - {b}": d for (a, b), d in cmp.gains.items()}, out / "gains.png"),
                    "each arch's gain from one column to the other, seed 0 against seed 1: agreement along "
                    "the diagonal is a teacher preferring some students; a round cloud is seed noise")
               if cmp.gains else ""))
    page = f"<!doctype html><meta charset='utf-8'><title>{html.escape('tables')}</title>{body}"
    (out / "index.html").write_text(page)
    return out / "index.html"
