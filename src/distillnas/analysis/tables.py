"""Benchmark tables from runs, and AKD's premise measured between them.

`export_table` turns a finished (grid) run into a table file; `compare_tables` puts tables
over the same archs side by side: Kendall tau and Spearman between every pair of columns,
the noise floor (tau between a column's own seeds), top-k overlap (beside that of a column's own
seeds), each column's best student
and where it ranks in the others, and the rank reversals that exceed seed noise (pairs whose
order flips between two columns while both seeds of each column agree). Rank statistics are
scipy.stats'. Reads stores and table files only.

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

import datetime
import html
import math
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from ..benchmarks import BenchmarkTable, read_benchmark
from ..checkpoint import weights_digest
from ..data import prepare_data
from ..errors import DistillnasError
from ..rundir import RunDir
from ..spaces import space_from_config
from ..teachers.load import expand_spec
from .plots import gain_scatter, scatter_grid
from .report import _img, _table


def _teacher(cfg: Any, run: RunDir) -> dict[str, str]:
    """Which teacher the run's proxy distilled from, for the table's header: in words, and the
    digest of its weights where they are distillnas checkpoints (what `merge_tables` checks)."""
    if cfg.evaluator.source_table() is not None:
        return {"teacher": f"that of {cfg.evaluator.source_table()}"}
    loss = cfg.evaluator.training_loss()
    if loss is None or loss.name == "ce":
        return {"teacher": "none (ce)"}
    members = run.teacher_members(cfg)
    given = ", ".join(cfg.teacher.spec) if cfg.teacher.spec else f"{cfg.teacher.arch} x{len(cfg.teacher.seeds)} (trained)"
    try:
        digest = weights_digest(expand_spec(members))
    except DistillnasError:  # a teacher directory emptied since
        digest = None
    return {"teacher": f"{given}; {len(members)} member checkpoint(s)", **({"teacher_sha": digest} if digest else {})}


def export_table(run_dir: str | Path, fidelity: float | None = None) -> tuple[BenchmarkTable, int]:
    """(the run's table, trials left out): one row per distinct arch with a successful trial.

    A multi-fidelity run stores an arch once per rung it reached: its table is that of the
    top rung (the full proxy) unless `fidelity` names a lower one - the same protocol
    stopped early, the low-fidelity table `evaluator.fidelity.tables` takes. A run with
    `fidelity.eta` 1 holds every arch at every rung."""
    run = RunDir(run_dir)
    run.check_is_run()
    cfg = run.load_config()
    rung = _rung(cfg, fidelity)
    space = space_from_config(cfg.space)
    if cfg.evaluator.source_table() is not None:  # a table searched again: its archs were built for the source's input
        source = read_benchmark(cfg.evaluator.source_table())
        shape, classes = "x".join(map(str, source.input_shape)), source.num_classes
    else:
        ds, _ = prepare_data(cfg.data)
        shape, classes = f"{ds.in_channels}x{ds.input_size}x{ds.input_size}", ds.num_classes
    store = run.store(readonly=True)
    try:
        trials = store.trials()
    finally:
        store.close()
    seeds = cfg.evaluator.seeds()
    columns = ["accuracy", *[f"acc_seed{s}" for s in seeds], "params", "macs", "latency_ms"]
    rows: dict[str, list[float]] = {}
    partial = 0  # trials without an accuracy for every seed: a table row holds every column
    for t in trials:
        if t["status"] != "ok" or t["extra"].get("reused_from") is not None:
            continue
        if rung is not None and t["extra"].get("fidelity") != rung:
            continue  # another rung of a multi-fidelity run: not this table's trial
        per_seed = t["extra"].get("seed_accuracies", {})
        if any(str(s) not in per_seed for s in seeds):
            partial += 1
            continue
        rows.setdefault(space.table_key(tuple(t["tokens"])), [
            100 * t["accuracy"], *[100 * per_seed[str(s)] for s in seeds],
            float(t["params"]), float(t["macs"]), float(t["latency_ms"] or 0.0)])
    if not rows:
        at = f" at fidelity {rung:g}" if rung is not None else ""
        raise DistillnasError(f"run {str(run)!r} has no successful trial{at} to export")
    loss = cfg.evaluator.training_loss()
    meta = {"space": space.config(), "dataset": cfg.data.name, "input": shape, "classes": classes,
            **_teacher(cfg, run),
            "loss": loss.model_dump() if loss else f"{cfg.evaluator.name}: {cfg.evaluator.source_table()}",
            "proxy": cfg.evaluator.proxy.model_dump(exclude={"loss"}) if loss else {},
            "source": str(run), "date": datetime.date.today().isoformat(), "columns": " ".join(columns)}
    if rung is not None:  # which rung of the run's ladder this table holds
        how = ("the cosine lr restarted at every rung" if cfg.evaluator.proxy.fidelity.schedule == "rung"
               else "one lr schedule over all of them")
        meta["fidelity"] = f"{rung:g} of {cfg.evaluator.top_fidelity():g} epochs ({how})"
    g = cfg.strategy.shard()
    if g is not None:
        meta["grid"] = f"shard {g.shard} of 0..{g.shards - 1} (seed {cfg.strategy.seed})"
    left_out = sum(t["status"] not in ("ok", "screened") and (rung is None or t["extra"].get("fidelity") == rung)
                   for t in trials) + partial
    return BenchmarkTable(meta, columns, rows), left_out


def _rung(cfg: Any, fidelity: float | None) -> float | None:
    """The rung a multi-fidelity run's table is exported at (None: a run of one fidelity)."""
    top = cfg.evaluator.top_fidelity() if cfg.evaluator.name == "proxy" else None
    if top is None:
        if fidelity is not None:
            raise DistillnasError(f"--fidelity {fidelity:g}: this run trained at one fidelity "
                                  "(evaluator.proxy.fidelity.epochs is not set); leave --fidelity out")
        return None
    ladder = [float(e) for e in cfg.evaluator.proxy.fidelity.epochs]
    if fidelity is None:
        return top
    if float(fidelity) not in ladder:
        raise DistillnasError(f"--fidelity {fidelity:g} is not a rung of this run; its rungs are "
                              f"{', '.join(f'{e:g}' for e in ladder)} epochs")
    return float(fidelity)


# Header entries that may differ between parts of one table (where and when each part was made).
_PER_PART = {"source", "date", "grid", "teacher"}


def merge_tables(paths: list[str]) -> BenchmarkTable:
    """One table from parts made by the same protocol (grid shards, sittings, machines): their
    headers must agree on everything but source, date and shard (the teacher by its weights'
    digest where both have one, else by its description) and no arch may be in two parts."""
    if len(paths) < 2:
        raise DistillnasError(f"table merge needs two or more tables (got {len(paths)})")
    parts = [read_benchmark(p) for p in paths]
    first, out = parts[0], BenchmarkTable(dict(parts[0].meta), list(parts[0].columns))
    owner: dict[str, str] = {}
    for path, part in zip(paths, parts):
        _check_same_protocol(paths[0], first, path, part)
        for key, values in part.rows.items():
            if key in owner:
                raise DistillnasError(f"arch {key} is in both {owner[key]!r} and {path!r}: parts of a table "
                                      "must not overlap")
            owner[key] = path
            out.rows[key] = values
    out.meta.pop("grid", None)
    out.meta["source"] = "merged from " + ", ".join(str(part.meta.get("source", p)) for p, part in zip(paths, parts))
    out.meta["date"] = max(str(part.meta.get("date", "")) for part in parts)
    return out


def merge_seeds(paths: list[str]) -> BenchmarkTable:
    """One table from runs of one protocol over the same archs that trained other seeds (a second
    seed added later, for a column's noise floor, or to average a noisy rung): the seed columns
    side by side, the mean accuracy taken over all of them. Headers must agree as for
    `merge_tables` except the proxy's seeds, which must not overlap; every part must hold the
    same archs with the same params and MACs; a measured latency is averaged over the parts."""
    if len(paths) < 2:
        raise DistillnasError(f"table merge --seeds needs two or more tables (got {len(paths)})")
    parts = [read_benchmark(p) for p in paths]
    first, keys, seeds = parts[0], set(parts[0].rows), {}  # seed column -> the part that holds it
    for path, part in zip(paths, parts):
        _check_same_protocol(paths[0], _without_seeds(first), path, _without_seeds(part))
        if not part.seed_columns:
            raise DistillnasError(f"{path!r} has no per-seed accuracy columns (acc_seedN) to join")
        for c in part.seed_columns:
            if c in seeds:
                raise DistillnasError(f"{c} is in both {seeds[c]!r} and {path!r}: join runs of other seeds")
            seeds[c] = path
        if set(part.rows) != keys:
            odd = sorted(set(part.rows) ^ keys)
            raise DistillnasError(f"{path!r} and {paths[0]!r} differ in {len(odd)} arch(s) (e.g. {odd[0][:200]!r}); "
                                  "joining seeds needs the same archs in every part")
    rest = [c for c in first.columns if c != "accuracy" and not c.startswith("acc_seed")]
    order = sorted(seeds, key=lambda c: (not c[8:].isdigit(), int(c[8:]) if c[8:].isdigit() else 0, c))
    out = BenchmarkTable(dict(first.meta), ["accuracy", *order, *rest])
    for key in first.rows:
        named = [dict(zip(p.columns, p.rows[key])) for p in parts]
        acc = [next(n[c] for n in named if c in n) for c in order]
        for c in (c for c in rest if c in ("params", "macs")):
            if len({n[c] for n in named}) > 1:
                raise DistillnasError(f"arch {key[:200]} has {c} {', '.join(f'{n[c]:g}' for n in named)} in the "
                                      "parts: they were not built alike")
        out.rows[key] = [sum(acc) / len(acc), *acc, *(sum(n[c] for n in named) / len(named) for c in rest)]
    proxy = dict(first.meta.get("proxy") or {})
    if "seeds" in proxy:
        proxy["seeds"] = sorted(s for p in parts for s in (p.meta.get("proxy") or {}).get("seeds", []))
        out.meta["proxy"] = proxy
    out.meta["source"] = "seeds joined from " + ", ".join(str(part.meta.get("source", p)) for p, part in zip(paths, parts))
    out.meta["date"] = max(str(part.meta.get("date", "")) for part in parts)
    return out


def _without_seeds(table: BenchmarkTable) -> BenchmarkTable:
    """The table's header and columns with its seeds left out: what must agree when seeds are joined.

    Under the `rung` schedule a rung's training does not depend on the rungs above it (the cosine
    restarts at every rung), so the 3-epoch rung of a [1, 3, 9] ladder is the protocol of the top
    of a [1, 3] one: a rung's proxy is compared cut at that rung."""
    meta = dict(table.meta)
    meta.pop("columns", None)
    proxy = meta.get("proxy")
    if isinstance(proxy, dict):
        proxy = meta["proxy"] = {k: v for k, v in proxy.items() if k != "seeds"}
        fid, rung = proxy.get("fidelity") or {}, str(meta.get("fidelity", "")).split(" of ")[0]
        if isinstance(fid, dict) and fid.get("schedule") == "rung" and _is_number(rung):
            r = float(rung)
            proxy.update(epochs=r, fidelity={**fid, "epochs": [e for e in fid.get("epochs") or [] if e <= r]})
            meta["fidelity"] = f"rung {r:g}"
    return BenchmarkTable(meta, [c for c in table.columns if not c.startswith("acc_seed")])


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _check_same_protocol(path_a: str, a: BenchmarkTable, path_b: str, b: BenchmarkTable) -> None:
    skip = _PER_PART - ({"teacher"} if "teacher_sha" in a.meta and "teacher_sha" in b.meta else set())
    if a.columns != b.columns:
        raise DistillnasError(f"{path_b!r} has columns {' '.join(b.columns)!r}, {path_a!r} {' '.join(a.columns)!r}")
    for key in sorted((a.meta.keys() | b.meta.keys()) - skip - {"columns"}):
        if a.meta.get(key) != b.meta.get(key):
            raise DistillnasError(f"{path_b!r} was made with {key}={b.meta.get(key)!r}, {path_a!r} with "
                                  f"{a.meta.get(key)!r}: only parts of one protocol can be merged")


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


def _seeds(table: BenchmarkTable, keys: list[str]) -> np.ndarray | None:
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
    seeds = {n: _seeds(t, keys) for n, t in zip(names, tables)}
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
