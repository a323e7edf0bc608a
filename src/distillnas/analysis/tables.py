"""Benchmark tables from runs: `export_table` turns a finished (grid) run into a table file,
at its top fidelity or at one rung of a multi-fidelity ladder; `merge_tables` joins the parts
of one protocol run over grid shards, `merge_seeds` the runs of other training seeds over the
same archs. `analysis/compare.py` measures tables against each other. Reads stores and table
files only.
"""
from __future__ import annotations

import datetime
import math
from pathlib import Path
from typing import Any

from ..benchmarks import BenchmarkTable, read_benchmark
from ..checkpoint import weights_digest
from ..data import prepare_data
from ..errors import DistillnasError
from ..evalconfig import ProxyConfig
from ..runconfig import with_settings
from ..section import declared_defaults, unset_legacy_settings, with_defaults
from ..rundir import RunDir
from ..spaces import space_from_config
from ..teachers.load import expand_spec


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
        k = cfg.evaluator.proxy.fidelity.recalibrate
        if k and rung < cfg.evaluator.top_fidelity():
            how += f"; scored after re-estimating batch-norm statistics on {k} training batches"
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
    meta = _as_read(table.meta)
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


# Proxy settings that choose which archs a run trains, never how one is trained: they cannot
# change a row's score, so tables that differ in them are of one protocol.
_NOT_PROTOCOL = ("promote", "tell")
# Fidelity settings that change only a lower rung's scores: part of a lower rung's protocol, not
# of a top rung's or a one-fidelity run's.
_BELOW_THE_TOP = ("recalibrate",)


def _is_top_rung(meta: dict[str, Any]) -> bool:
    """Whether a table holds a one-fidelity run or its run's top rung (its `fidelity` line absent
    or `T of T epochs`); `rung R`, a lower rung's header as `_without_seeds` cut it, is not."""
    line = meta.get("fidelity")
    if line is None:
        return True
    rung, _, rest = str(line).partition(" of ")
    top = rest.split(" ")[0]
    return _is_number(rung) and _is_number(top) and float(rung) >= float(top)


def _as_read(meta: dict[str, Any]) -> dict[str, Any]:
    """A table header (less its columns) as its protocol: each proxy setting it predates at
    the value the code that wrote it behaved as (its legacy value where one is declared, else
    its default), so a table made before a setting was added merges with one made after at
    that value; the settings in `_NOT_PROTOCOL` left out, and those in `_BELOW_THE_TOP` unless
    the table is a lower rung."""
    meta = {k: v for k, v in meta.items() if k != "columns"}
    if isinstance(meta.get("proxy"), dict):
        base = ProxyConfig()
        as_written = with_settings(declared_defaults(base), unset_legacy_settings(base))
        proxy = with_defaults(meta["proxy"], as_written)
        if isinstance(proxy.get("fidelity"), dict):
            drop = _NOT_PROTOCOL + (_BELOW_THE_TOP if _is_top_rung(meta) else ())
            proxy["fidelity"] = {k: v for k, v in proxy["fidelity"].items() if k not in drop}
        meta["proxy"] = proxy
    return meta


def _check_same_protocol(path_a: str, a: BenchmarkTable, path_b: str, b: BenchmarkTable) -> None:
    a, b = (BenchmarkTable(_as_read(t.meta), t.columns, t.rows) for t in (a, b))
    skip = _PER_PART - ({"teacher"} if "teacher_sha" in a.meta and "teacher_sha" in b.meta else set())
    if a.columns != b.columns:
        raise DistillnasError(f"{path_b!r} has columns {' '.join(b.columns)!r}, {path_a!r} {' '.join(a.columns)!r}")
    for key in sorted((a.meta.keys() | b.meta.keys()) - skip - {"columns"}):
        if a.meta.get(key) != b.meta.get(key):
            raise DistillnasError(f"{path_b!r} was made with {key}={b.meta.get(key)!r}, {path_a!r} with "
                                  f"{a.meta.get(key)!r}: only parts of one protocol can be merged")
