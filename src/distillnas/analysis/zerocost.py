"""Zero-cost scores against measured accuracies: every arch of one or more tables (or finished
runs) is scored at initialisation, and each score is rank-correlated (Kendall tau, scipy.stats)
with each accuracy column, beside the column's own seed noise floor. This is how to tell
whether a teacher-aware score (DisWOT) predicts KD accuracy better than CE accuracy, and
better than the classic proxies."""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy import stats

from ..benchmarks import BenchmarkTable, read_benchmark
from ..data import DataConfig, prepare_data
from ..errors import DistillnasError
from ..rundir import RunDir
from ..spaces import SearchSpace, build_space
from ..teachers import load_teacher
from ..zerocost import TEACHER_SCORES, check_scores, make_probe, score_model, teacher_modules
from .compare import seed_matrix
from .tables import export_table


@dataclass
class Source:
    """Where a zero-cost study's accuracies come from: a table, or a run's stored trials."""
    name: str
    table: BenchmarkTable
    space: dict[str, Any] | None  # the space's config, when the source says
    dataset: str | None
    teachers: list[str] = field(default_factory=list)  # member checkpoints of a run's teacher


@dataclass
class ZeroCostStudy:
    """Zero-cost scores of every arch of a source against its accuracies (Kendall tau per score)."""
    scores: list[str]
    columns: list[str]  # one per source
    keys: list[str]  # archs every source holds
    values: dict[str, np.ndarray]  # score -> value per key (higher = predicted better)
    accuracy: dict[str, np.ndarray]  # column -> mean accuracy (%) per key
    tau: dict[tuple[str, str], float] = field(default_factory=dict)  # (score, column)
    p: dict[tuple[str, str], float] = field(default_factory=dict)
    noise_floor: dict[str, float | None] = field(default_factory=dict)  # tau between a column's seeds
    seconds_per_arch: float = 0.0
    teacher: str = ""


def read_source(path: str) -> Source:
    """A finished run directory (exported on the fly) or a table file / packaged table."""
    p = Path(path)
    if (p / "config.yaml").is_file():
        run = RunDir(p)
        cfg = run.load_config()
        table, _ = export_table(p)
        return Source(p.name, table, table.meta.get("space"), cfg.data.name, run.teacher_members(cfg))
    table = read_benchmark(path)
    return Source(Path(path).stem, table, table.meta.get("space"), table.meta.get("dataset"))


def _space(sources: list[Source], override: dict[str, Any] | None) -> SearchSpace:
    cfg = override or next((s.space for s in sources if s.space), None)
    if cfg is None:
        raise DistillnasError(f"table {sources[0].name!r} does not name its space; give one, e.g. "
                              "--space resnet_depth (for DisWOT's tables)")
    return build_space(**cfg)


def key_index(space: SearchSpace, keys: set[str]) -> dict[str, tuple[int, ...]]:
    """table key -> tokens, by enumerating the space (tables are tabulable spaces)."""
    if space.cardinality > 2_000_000:
        raise DistillnasError(f"the space has {space.cardinality:,} archs: too many to match table keys; "
                              "restrict it (space.restrict)")
    out = {}
    for tokens in itertools.product(*(range(n) for n in space.sizes)):
        k = space.table_key(tokens)
        if k in keys and k not in out:
            out[k] = tokens
    missing = sorted(keys - set(out))
    if missing:
        raise DistillnasError(f"{len(missing)} table keys are not archs of the space (e.g. {missing[0]!r})")
    return out


def study(paths: list[str], scores: list[str], teacher: list[str] | None = None, dataset: str | None = None,
          space: dict[str, Any] | None = None, batch_size: int = 64, seed: int = 0,
          on_arch: Callable[[int, int], None] | None = None) -> ZeroCostStudy:
    """Score every arch the sources share and correlate each score with each source's accuracy.

    `teacher` (specs) defaults to the teacher trained into the first run source; `dataset` to
    the one the sources name: archs are built for its input shape and classes, and the probe
    batch is drawn from its training images (DisWOT's CIFAR table is scored on whatever data
    is given, e.g. the embedded digits, which is a proxy of a proxy: say so when reporting)."""
    sources = [read_source(p) for p in paths]
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise DistillnasError(f"sources must have different names, got {names}")
    data = dataset or next((s.dataset for s in sources if s.dataset), None)
    if data is None:
        raise DistillnasError(f"no dataset to score on: {names[0]!r} names none; give one (e.g. --data mnist5k)")
    specs = list(teacher or next((s.teachers for s in sources if s.teachers), []))
    check_scores(scores, has_teacher_network=bool(specs))
    sp = _space(sources, space)
    keys = sorted(set.intersection(*(set(s.table.accuracy) for s in sources)))
    if len(keys) < 3:
        raise DistillnasError(f"the sources share {len(keys)} archs; a rank correlation needs 3 or more")
    tokens = key_index(sp, set(keys))
    ds, splits = prepare_data(DataConfig(name=data))
    t = load_teacher(specs, ds) if specs and any(n in TEACHER_SCORES for n in scores) else None
    if t is not None and not teacher_modules(t):
        raise DistillnasError(f"teacher {specs[0]!r} is a logits file: DisWOT needs the teacher network")
    probe = make_probe(ds, splits, t, batch_size, seed, with_teacher=t is not None)
    values = {n: np.zeros(len(keys)) for n in scores}
    start = time.perf_counter()
    for i, k in enumerate(keys):
        got = score_model(lambda: sp.build(tokens[k], ds.num_classes, ds.in_channels, ds.input_size), scores, probe,
                          seed)
        for n in scores:
            values[n][i] = got[n]
        if on_arch:
            on_arch(i + 1, len(keys))
    out = ZeroCostStudy(scores, names, keys, values,
                        {s.name: np.array([100 * s.table.accuracy[k] for k in keys]) for s in sources},
                        seconds_per_arch=(time.perf_counter() - start) / len(keys), teacher=", ".join(specs))
    for s in sources:
        seeds = seed_matrix(s.table, keys)
        out.noise_floor[s.name] = None if seeds is None else float(stats.kendalltau(seeds[:, 0], seeds[:, 1]).statistic)
        for n in scores:
            r = stats.kendalltau(values[n], out.accuracy[s.name])
            out.tau[n, s.name], out.p[n, s.name] = float(r.statistic), float(r.pvalue)
    return out


def study_rows(st: ZeroCostStudy) -> list[dict[str, Any]]:
    """One row per score: tau against each column (the noise floor row first)."""
    rows = [{"score": "(seed 0 vs seed 1)", **{c: st.noise_floor[c] for c in st.columns}}]
    rows += [{"score": n, **{c: st.tau[n, c] for c in st.columns}} for n in st.scores]
    return rows


def study_json(st: ZeroCostStudy) -> dict[str, Any]:
    """The study as plain values, for JSON output."""
    return {"scores": st.scores, "columns": st.columns, "teacher": st.teacher,
            "seconds_per_arch": st.seconds_per_arch, "noise_floor": st.noise_floor,
            "tau": {f"{n}|{c}": v for (n, c), v in st.tau.items()},
            "p": {f"{n}|{c}": v for (n, c), v in st.p.items()},
            "archs": {k: {**{n: float(st.values[n][i]) for n in st.scores},
                          **{c: float(st.accuracy[c][i]) for c in st.columns}} for i, k in enumerate(st.keys)}}
