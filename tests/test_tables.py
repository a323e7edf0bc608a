"""Benchmark tables: the grid strategy, restricted spaces, seeds per arch, export -> table
evaluator round trip, and the comparison statistics."""
from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

from distillnas.store import TrialStore
from distillnas.analysis.compare import comparison_report, compare_tables, verdict
from distillnas.analysis.tables import export_table, merge_seeds, merge_tables
from distillnas.benchmarks import BenchmarkTable, read_benchmark, write_benchmark
from distillnas.checkpoint import weights_digest
from distillnas.cli import main
from distillnas.errors import DistillnasError
from distillnas.runconfig import load_search_config
from distillnas.search import run_search
from distillnas.spaces import build_space
from distillnas.strategies import GridSearch

from conftest import rows, tiny_overrides

SMALL = {"b*.se": [0.0], "b*.skip": ["id"], "b*.width": [1.0], "b*.depth": [0], "b*.kernel": [3]}


def test_grid_enumerates_every_arch_once_in_a_seeded_order():
    sizes = [2, 3, 4]
    g = GridSearch(sizes, seed=1)
    first = g.ask(10) + g.ask(14)
    assert len(set(first)) == 24 == len(first) and all(0 <= t < s for a in first for t, s in zip(a, sizes))
    assert g.ask(2) == first[:2]  # then it starts over: repeats, which the loop takes for free
    assert first != GridSearch(sizes, seed=2).ask(24)
    twin = GridSearch(sizes, seed=1)
    twin.load_state_dict(GridSearch(sizes, seed=1).state_dict() | {"pos": 10})
    assert twin.ask(14) == first[10:]
    with pytest.raises(DistillnasError, match="more than strategy.grid.max_archs=10"):
        GridSearch(sizes, max_archs=10)


def test_grid_shards_split_the_seeded_order_into_disjoint_blocks():
    sizes = [2, 3, 4]
    whole = GridSearch(sizes, seed=1).ask(24)
    parts = [GridSearch(sizes, seed=1, shard=i, shards=5) for i in range(5)]
    assert [p.total for p in parts] == [4, 5, 5, 5, 5]
    assert sum((p.ask(p.total) for p in parts), []) == whole  # in order, disjoint, covering
    assert parts[2].ask(1) == whole[9:10]  # a shard starts over within itself
    assert GridSearch(sizes, seed=1, shard=0, shards=2, max_archs=12).total == 12
    with pytest.raises(DistillnasError, match="shards=25 is more than the space's 24 archs"):
        GridSearch(sizes, shards=25)
    with pytest.raises(DistillnasError, match="shard=3 must be below strategy.grid.shards=3"):
        load_search_config("akd_diswot", ["--strategy.name=grid", "--strategy.grid.shard=3",
                                          "--strategy.grid.shards=3"])


def test_a_restricted_space_keeps_the_full_spaces_strings():
    full = build_space("mnasnet", blocks=2)
    space = build_space("mnasnet", blocks=2, restrict=SMALL)
    assert space.cardinality == 16 and space.config()["restrict"] == SMALL
    for t in GridSearch(space.sizes).ask(16):
        text = space.to_string(t)
        assert space.from_string(text) == t and full.to_string(space.lift(t)) == text
    with pytest.raises(DistillnasError, match="outside the restricted space"):
        space.from_string(full.to_string(full.sample(np.random.default_rng(3))).replace("_se0_", "_se0.25_", 1)
                          if "_se0_" in full.to_string(full.sample(np.random.default_rng(3))) else "x")
    with pytest.raises(DistillnasError, match="matches no decision"):
        build_space("mnasnet", blocks=2, restrict={"b9.op": ["mb6"]})
    with pytest.raises(DistillnasError, match=r"\['mb9'\] not among b0.op's options"):
        build_space("mnasnet", blocks=2, restrict={"b0.op": ["mb9"]})


def test_grid_over_a_table_finds_every_row_and_then_stops(tmp_path):
    cfg = load_search_config("akd_diswot", [f"--run_dir={tmp_path / 'g'}", "--strategy.name=grid",
                                            "--search.trials=80", "--search.batch_size=16", "--search.patience=1"])
    out = run_search(cfg, progress=False)
    archs = [r[2] for r in rows(tmp_path / "g")]
    assert out.trials == 64 and len(set(archs)) == 64 and out.converged  # all 64, then repeats end it


def test_the_exports_of_grid_shards_merge_into_the_whole_table(tmp_path):
    parts = []
    for i in range(3):
        run = tmp_path / f"s{i}"
        cfg = load_search_config("akd_diswot", [f"--run_dir={run}", "--strategy.name=grid", "--strategy.grid.shards=3",
                                                f"--strategy.grid.shard={i}", "--search.trials=64",
                                                "--search.batch_size=8", "--search.patience=1"])
        assert run_search(cfg, progress=False).converged
        table, _ = export_table(run)
        assert table.meta["grid"] == f"shard {i} of 0..2 (seed 0)"
        parts.append(str(write_benchmark(tmp_path / f"s{i}.txt", table)))
    assert [len(read_benchmark(p).rows) for p in parts] == [21, 21, 22]
    merged = merge_tables(parts)
    whole = read_benchmark("diswot_s1_kd")
    assert merged.rows.keys() == whole.rows.keys() and "grid" not in merged.meta
    assert all(math.isclose(merged.rows[k][0], v[0], abs_tol=1e-3) for k, v in whole.rows.items())
    with pytest.raises(DistillnasError, match="is in both"):
        merge_tables([parts[0], parts[1], parts[0]])
    other = read_benchmark(parts[2])
    other.meta["dataset"] = "cifar10"
    write_benchmark(tmp_path / "other.txt", other)
    with pytest.raises(DistillnasError, match="made with dataset='cifar10'"):
        merge_tables([parts[0], str(tmp_path / "other.txt")])
    with pytest.raises(DistillnasError, match="needs two or more"):
        merge_tables(parts[:1])


def _seed_part(tmp_path, name, seed, accs, **meta):
    """A two-arch table of one seed, as `table export` writes for evaluator.proxy.seeds=[seed]."""
    head = {"dataset": "fashion_mnist", "proxy": {"epochs": 3.0, "seeds": [seed]}, "source": name, **meta}
    rows = {k: [a, a, p, 10 * p, lat] for k, (a, p, lat) in accs.items()}
    table = BenchmarkTable(head, ["accuracy", f"acc_seed{seed}", "params", "macs", "latency_ms"], rows)
    return str(write_benchmark(tmp_path / f"{name}.txt", table))


def test_merge_seeds_puts_other_seeds_of_the_same_archs_side_by_side(tmp_path, capsys):
    a = _seed_part(tmp_path, "a", 0, {"x": (80.0, 100, 0.5), "y": (70.0, 200, 0.0), "w": (60.0, 300, 0.0)})
    b = _seed_part(tmp_path, "b", 1, {"y": (74.0, 200, 0.0), "x": (81.0, 100, 0.7), "w": (61.0, 300, 0.0)})
    joined = read_benchmark(write_benchmark(tmp_path / "ab.txt", merge_seeds([b, a])))
    assert joined.columns == ["accuracy", "acc_seed0", "acc_seed1", "params", "macs", "latency_ms"]
    assert joined.rows["x"] == pytest.approx([80.5, 80.0, 81.0, 100, 1000, 0.6])
    assert joined.rows["y"][:3] == pytest.approx([72.0, 70.0, 74.0])
    assert joined.meta["proxy"]["seeds"] == [0, 1] and joined.meta["source"] == "seeds joined from b, a"
    cmp = compare_tables([str(tmp_path / "ab.txt"), str(tmp_path / "ab.txt")], ["p", "q"], 1, 0)
    assert cmp.noise_floor["p"] == pytest.approx(1.0)  # the seeds now give the column its noise floor
    for parts, code, says in (([a, b], 0, "3 archs x 2 seeds from 2 tables"), ([a, a], 2, "acc_seed0 is in both")):
        with pytest.raises(SystemExit) as e:
            main(["table", "merge", "--seeds", *parts, "--out", str(tmp_path / f"cli{code}.txt")])
        out = capsys.readouterr()
        assert e.value.code == code and says in out.out + out.err
    assert read_benchmark(tmp_path / "cli0.txt").rows == joined.rows and not (tmp_path / "cli2.txt").exists()
    same = {"x": (1.0, 100, 0), "y": (2.0, 200, 0), "w": (3.0, 300, 0)}
    cases = {"is in both": [a, _seed_part(tmp_path, "c", 0, same)],
             "differ in 1 arch(s) (e.g. 'z')": [a, _seed_part(tmp_path, "d", 1, {**same, "z": (3.0, 9, 0)})],
             "has params 100, 101": [a, _seed_part(tmp_path, "e", 1, {**same, "x": (1.0, 101, 0)})],
             "made with dataset='cifar10'": [a, _seed_part(tmp_path, "f", 1, same, dataset="cifar10")],
             "made with proxy=": [a, _seed_part(tmp_path, "g", 1, same, proxy={"epochs": 9.0, "seeds": [1]})],
             "needs two or more": [a]}
    for says, parts in cases.items():
        with pytest.raises(DistillnasError, match=re.escape(says)):
            merge_seeds(parts)
    # a rung of a longer ladder is the top of a shorter one when the cosine restarts at every rung
    ladder = {"epochs": 9.0, "seeds": [0], "fidelity": {"epochs": [1, 3, 9], "schedule": "rung"}}
    rung3 = _seed_part(tmp_path, "r9", 0, same, proxy=ladder, fidelity="3 of 9 epochs (restarted)")
    short = {"epochs": 3.0, "seeds": [1], "fidelity": {"epochs": [1, 3], "schedule": "rung"}}
    assert merge_seeds([rung3, _seed_part(tmp_path, "r3", 1, same, proxy=short, fidelity="3 of 3 epochs")]).rows
    for proxy, rung in ((short | {"fidelity": {"epochs": [1, 3], "schedule": "horizon"}}, "3 of 3 epochs"),
                        (short, "1 of 3 epochs")):  # one lr schedule over the ladder; another rung
        with pytest.raises(DistillnasError, match="only parts of one protocol"):
            merge_seeds([rung3, _seed_part(tmp_path, "x", 1, same, proxy=proxy, fidelity=rung)])


def test_a_table_made_before_a_setting_existed_merges_with_one_at_its_default(tmp_path):
    """The shipped tables predate `fidelity.promote` and `fidelity.recalibrate`: a part exported
    today joins them where the code that wrote them behaved the same. `promote` never changes a
    score; `recalibrate` (default 5, legacy 0) changes only a lower rung's, so a lower rung
    scored recalibrated is another protocol and a top rung is not."""
    same = {"x": (1.0, 100, 0), "y": (2.0, 200, 0)}
    old = {"epochs": 9.0, "seeds": [0], "fidelity": {"epochs": [1, 3, 9], "eta": 1, "schedule": "rung"}}
    new = lambda recal: {"epochs": 9.0, "seeds": [1], "fidelity": {  # noqa: E731
        "epochs": [1, 3, 9], "eta": 1, "schedule": "rung", "promote": "strata", "recalibrate": recal}}
    rung = "1 of 9 epochs (the cosine lr restarted at every rung)"
    a = _seed_part(tmp_path, "old", 0, same, proxy=old, fidelity=rung)
    assert merge_seeds([a, _seed_part(tmp_path, "new", 1, same, proxy=new(0), fidelity=rung)]).rows["x"][:3] == [1.0] * 3
    with pytest.raises(DistillnasError, match="only parts of one protocol"):
        merge_seeds([a, _seed_part(tmp_path, "recal", 1, same, proxy=new(5), fidelity=rung)])
    top = _seed_part(tmp_path, "old_top", 0, same, proxy=old)
    assert merge_seeds([top, _seed_part(tmp_path, "new_top", 1, same, proxy=new(5))]).rows["y"][:3] == [2.0] * 3


def test_the_teacher_digest_names_weights_not_files(tmp_path, teacher_dir):
    members = sorted(teacher_dir.glob("*.pt"))
    copies = []
    for m in members:
        copies.append(tmp_path / m.name)
        copies[-1].write_bytes(m.read_bytes())
    assert weights_digest(members) == weights_digest(copies) != weights_digest(members[:2])
    assert weights_digest(members[::-1]) != weights_digest(members)  # the members' order matters (ensembles)
    assert weights_digest([tmp_path / "missing.pt"]) is None


def test_seeds_per_arch_export_and_the_table_evaluator_round_trip(tmp_path, teacher_dir):
    run = tmp_path / "t"
    grid = ["--strategy.name=grid", f"--space.restrict={SMALL}", "--evaluator.proxy.seeds=[0, 1]",
            "--cost.latency=none", "--reward.reference=null"]
    run_search(load_search_config(None, tiny_overrides(run, teacher_dir, trials=4, batch=4, extra=grid)),
               progress=False)
    for *_, status, _, _ in rows(run):
        assert status == "ok"
    table, left_out = export_table(run)
    assert left_out == 0 and len(table.rows) == 4 and table.columns[:3] == ["accuracy", "acc_seed0", "acc_seed1"]
    for values in table.rows.values():
        assert math.isclose(values[0], (values[1] + values[2]) / 2, abs_tol=1e-9)
    assert table.meta["input"] == "3x16x16" and table.meta["classes"] == 10 and str(teacher_dir) in table.meta["teacher"]
    assert table.meta["teacher_sha"] == weights_digest(sorted(teacher_dir.glob("*.pt")))
    path = write_benchmark(tmp_path / "t.txt", table)
    again = read_benchmark(path)
    assert again.rows.keys() == table.rows.keys() and again.columns == table.columns
    for k in table.rows:
        assert np.allclose(again.rows[k], table.rows[k], atol=1e-4)
    look = load_search_config(None, [f"--run_dir={tmp_path / 'look'}", "--data.name=synthetic", "--space.blocks=2",
                                     f"--space.restrict={SMALL}", "--strategy.name=grid", "--evaluator.name=table",
                                     f"--evaluator.table={path}", "--search.trials=4", "--search.batch_size=4"])
    run_search(look, progress=False)
    found = {r[2]: r for r in rows(tmp_path / "look")}
    space = build_space("mnasnet", blocks=2, restrict=SMALL)
    from distillnas.store import TrialStore

    store = TrialStore(tmp_path / "look" / "trials.sqlite")
    for t in store.trials():
        key = space.table_key(tuple(t["tokens"]))
        assert math.isclose(100 * t["accuracy"], again.rows[key][0], abs_tol=1e-9)
        assert t["params"] == int(again.rows[key][3])  # costs from the table's columns
    store.close()
    assert len(found) == 4


def test_a_ladder_run_with_eta_1_exports_a_table_per_rung(tmp_path, teacher_dir):
    """fidelity.eta 1 trains every arch through every rung; `export --fidelity` gives each rung's
    table (the default is the top rung: the full proxy), and the low rung's table drives the table
    evaluator's successive halving."""
    run = tmp_path / "ladder"
    grid = ["--strategy.name=grid", f"--space.restrict={SMALL}", "--evaluator.proxy.seeds=[0, 1]",
            "--cost.latency=none", "--reward.reference=null", "--evaluator.proxy.fidelity.epochs=[1, 2]",
            "--evaluator.proxy.fidelity.eta=1", "--evaluator.proxy.epochs=2"]
    run_search(load_search_config(None, tiny_overrides(run, teacher_dir, trials=4, batch=4, extra=grid)),
               progress=False)
    stored = TrialStore(run / "trials.sqlite", readonly=True).trials()
    assert sorted(t["extra"]["fidelity"] for t in stored) == [1.0] * 4 + [2.0] * 4  # every arch at every rung
    assert all(t["extra"]["epochs_trained"] == 1.0 for t in stored)  # rung 2 continued rung 1's training
    top, _ = export_table(run)
    low, left_out = export_table(run, fidelity=1)
    assert left_out == 0 and top.rows.keys() == low.rows.keys() and len(top.rows) == 4
    by_rung = {(t["extra"]["fidelity"], t["arch"]): 100 * t["accuracy"] for t in stored}
    space = build_space("mnasnet", blocks=2, restrict=SMALL)
    for t in stored:
        table = top if t["extra"]["fidelity"] == 2.0 else low
        assert math.isclose(table.rows[space.table_key(tuple(t["tokens"]))][0], by_rung[(t["extra"]["fidelity"], t["arch"])])
    assert low.meta["fidelity"] == ("1 of 2 epochs (one lr schedule over all of them; scored after re-estimating "
                                    "batch-norm statistics on 5 training batches)")
    assert top.meta["fidelity"].startswith("2 of 2")
    cfg_path = run / "config.yaml"  # the same run read as one with a cosine restart per rung
    cfg_path.write_text(cfg_path.read_text().replace("schedule: horizon", "schedule: rung"))
    assert export_table(run, fidelity=1)[0].meta["fidelity"].startswith("1 of 2 epochs (the cosine lr restarted at every rung;")
    with pytest.raises(DistillnasError, match="--fidelity 3 is not a rung of this run; its rungs are 1, 2 epochs"):
        export_table(run, fidelity=3)
    plain = tmp_path / "plain"
    run_search(load_search_config(None, tiny_overrides(plain, teacher_dir, trials=2, batch=2, extra=grid[:5])),
               progress=False)
    with pytest.raises(DistillnasError, match="trained at one fidelity"):
        export_table(plain, fidelity=1)
    paths = [write_benchmark(tmp_path / "low.txt", low), write_benchmark(tmp_path / "top.txt", top)]
    sh = load_search_config(None, [f"--run_dir={tmp_path / 'sh'}", "--data.name=synthetic", "--space.blocks=2",
                                   f"--space.restrict={SMALL}", "--strategy.name=grid", "--evaluator.name=table",
                                   f"--evaluator.table={paths[1]}", f"--evaluator.fidelity.tables=[{paths[0]}]",
                                   "--evaluator.fidelity.epochs=[1, 2]", "--evaluator.fidelity.eta=2",
                                   "--search.trials=4", "--search.batch_size=4"])
    run_search(sh, progress=False)
    looked = TrialStore(tmp_path / "sh" / "trials.sqlite", readonly=True).trials()
    assert sorted(t["extra"].get("fidelity") for t in looked) == [1.0] * 4 + [2.0] * 2  # the best half went on


def _table(path, acc, seeds):
    """A table of the given seed accuracies, moved to 50 + them (a table holds percentages)."""
    cols = ["accuracy", "acc_seed0", "acc_seed1"]
    rows = {f"a{i}": [50 + float(np.mean(s)), 50 + float(s[0]), 50 + float(s[1])] for i, s in enumerate(seeds)}
    return write_benchmark(path, BenchmarkTable({"dataset": "synthetic"}, cols, rows))


def test_compare_measures_tau_noise_floor_overlap_and_reversals(tmp_path):
    n = 12
    up = np.arange(n, dtype=float)
    a = _table(tmp_path / "a.txt", up, [(v, v + 0.1) for v in up])  # both seeds agree everywhere
    b = _table(tmp_path / "b.txt", up, [(v, v + 0.1) for v in up[::-1]])  # the reverse order, seeds agree
    c = _table(tmp_path / "c.txt", up, [(2 * v, -v) for v in up])  # its seeds disagree on every pair
    cmp = compare_tables([str(a), str(b), str(c)], ["A", "B", "C"], top=3)
    assert math.isclose(cmp.tau["A", "B"], -1.0) and math.isclose(cmp.spearman["A", "B"], -1.0)
    assert math.isclose(cmp.noise_floor["A"], 1.0) and math.isclose(cmp.noise_floor["C"], -1.0)
    assert cmp.top_overlap["A", "B"] == 0.0 and cmp.pairs == n * (n - 1) // 2
    assert cmp.top == 3 and cmp.top_floor["A"] == 1.0 and cmp.top_floor["C"] == 0.0  # C's seeds: opposite tops
    assert cmp.unmatched_top["A", "B"] == 0.0 and cmp.unmatched_top["A", "C"] == 0.5  # C seed 0 tops as A, seed 1 not
    assert cmp.reversals["A", "B"] == cmp.pairs and cmp.reversals["A", "C"] == 0  # C's seeds never agree
    assert cmp.best["A"]["arch"] == "a11" and cmp.best["A"]["rank_in"]["B"] == n
    assert math.isclose(cmp.unmatched_tau["A", "B"], -1.0) and math.isclose(cmp.effect["A", "B"].effect, 2.0)
    exact = cmp.interaction["A", "B"]  # seeds 0.1 apart in both columns: every difference is noise-free
    assert exact.f == math.inf and exact.p == 0.0 and exact.sd_interaction == exact.sd_interaction_high > 0
    with pytest.raises(DistillnasError, match="needs two or more tables"):
        compare_tables([str(a)])


def test_the_teacher_effect_is_zero_for_seed_noise_and_positive_for_another_ranking(tmp_path):
    rng = np.random.default_rng(0)
    n, sd = 300, 1.0
    quality, other = rng.normal(size=n), rng.normal(size=n)

    def column(name, q):
        runs = q[:, None] + sd * rng.normal(size=(n, 2))
        return str(_table(tmp_path / f"{name}.txt", q, [tuple(r) for r in runs]))

    a, b, c = column("a", quality), column("b", quality), column("c", 0.5 * quality + other)
    cmp = compare_tables([a, b, c], ["A", "B", "C"], resamples=300)
    same, changed = cmp.effect["A", "B"], cmp.effect["A", "C"]
    assert same.low < 0 < same.high and abs(same.effect) < 0.05  # two columns that differ only by seed noise
    assert changed.low > 0.05  # a teacher that prefers other archs (effect 0.17 here): beyond the noise floor
    assert cmp.unmatched_tau["A", "C"] < min(cmp.noise_floor["A"], cmp.noise_floor["C"])
    assert cmp.reversals["A", "C"] > 2 * cmp.crossed_reversals["A", "C"]  # flips beyond what crossed seeds make
    assert 0.7 < cmp.reversals["A", "B"] / cmp.crossed_reversals["A", "B"] < 1.3
    assert compare_tables([a, b], resamples=0).effect == {}
    # the same on accuracies: no arch x teacher interaction between A and B, a large one for C
    assert cmp.interaction["A", "B"].p > 0.01 and cmp.interaction["A", "C"].p < 1e-6
    assert cmp.interaction["A", "B"].df == (n - 1, n - 1)
    assert abs(cmp.interaction["A", "C"].sd_seed - sd) < 0.1  # the seed sd the columns were made with
    # C's interaction sd is 0.77 here, A-B's 0.21: a zero component estimated from 300 noisy archs
    assert cmp.interaction["A", "B"].sd_interaction < 0.5 * cmp.interaction["A", "C"].sd_interaction
    assert verdict(cmp, "A", "B").startswith("A vs B: no teacher-specific preference") and "CI holds 0" in \
        verdict(cmp, "A", "B")
    assert verdict(cmp, "A", "C").startswith("A vs C: teacher-specific preferences beyond seed noise")
    assert "CI excludes 0" in verdict(cmp, "A", "C")
    assert cmp.gains["A", "C"].shape == (n, 2)  # the gains behind the test, plotted seed against seed
    page = comparison_report(cmp, tmp_path / "report").read_text()
    assert (tmp_path / "report" / "gains.png").is_file() and "gain from one column to the other" in page
    assert "A vs C: teacher-specific preferences" in page


def test_the_interaction_anova_matches_its_sums_by_hand():
    """Two archs x two seeds per column. A - B per seed: arch 1 (-1, -3), arch 2 (-5, -5):
    MS_archs = 2 x (1.5^2 + 1.5^2) = 9 (df 1); with the seed means (-3, -4) taken out the
    residuals are +-0.5, MS 1 (df 1): F = 9, p = 0.205, gain sd sqrt((9 - 1) / 2) = 2. The
    columns' mean: arch 1 (0.5, 3.5), arch 2 (4.5, 6.5), MS 12.25 and 0.25: arch sd sqrt(6).
    Seed variances 2, 2 | 8, 2: seed sd sqrt(3.5)."""
    from distillnas.analysis.compare import interaction

    a = np.array([[0.0, 2.0], [2.0, 4.0]])
    b = np.array([[1.0, 5.0], [7.0, 9.0]])
    i = interaction(a, b)
    assert i.df == (1, 1) and math.isclose(i.f, 9.0) and math.isclose(i.p, 0.2048, abs_tol=1e-3)
    assert math.isclose(i.sd_interaction, 2.0) and math.isclose(i.sd_arch, math.sqrt(6.0))
    assert math.isclose(i.sd_seed, math.sqrt(3.5))
    assert math.isclose(i.sd_interaction_high, 26.94, rel_tol=1e-3)  # F(1, 1)'s 5% quantile 0.0062: wide


def test_matched_seed_noise_shared_by_both_columns_is_no_interaction():
    """Seeds matched across columns share part of their noise (same initial weights, batch
    order): the paired test keeps its level (the pooled two-way ANOVA would not)."""
    from distillnas.analysis.compare import interaction

    rng = np.random.default_rng(1)
    n = 400
    quality, shared = rng.normal(size=(n, 1)), rng.normal(size=(n, 2))
    a = quality + shared + 0.5 * rng.normal(size=(n, 2))
    b = quality + 0.3 + shared + 0.5 * rng.normal(size=(n, 2))  # a teacher that lifts every arch alike
    same = interaction(a, b)
    assert same.p > 0.01 and same.df == (n - 1, n - 1)
    prefers = interaction(a, b + rng.normal(size=(n, 1)))  # ... and one whose gain depends on the arch
    assert prefers.p < 1e-6 and 0.7 < prefers.sd_interaction < 1.3  # made with sd 1
    assert prefers.sd_interaction < prefers.sd_interaction_high < 1.5
    assert same.sd_interaction <= same.sd_interaction_high < 0.3  # how small the null says the gain's sd is


def test_table_cli_export_and_compare(tmp_path, capsys):
    from test_cli import run

    g = tmp_path / "g"
    code, _, err = run(capsys, "search", "--config", "akd_diswot", f"--run-dir={g}", "--strategy.name=grid",
                       "--search.trials=64", "--search.batch_size=16", "--no-progress")
    assert code == 0, err
    code, out, err = run(capsys, "table", "export", str(g), "--out", str(tmp_path / "kd.txt"))
    assert code == 0 and "64 archs" in out, err
    code, out, err = run(capsys, "table", "compare", str(tmp_path / "kd.txt"), "diswot_s1_ce", "--names", "kd,ce",
                         "--out", str(tmp_path / "cmp"))
    assert code == 0 and "best of kd" in out and (tmp_path / "cmp" / "index.html").is_file(), err
    assert "0.836" in out  # DisWOT's own tau between its CE and KD rankings
    code, _, err = run(capsys, "table", "compare", "diswot_s1_kd", "diswot_s1_ce", "--resamples", "-1")
    assert code == 2 and "'--resamples'" in err


MNIST5K_COLUMNS = ["mnist5k_mnasnet_ce", "mnist5k_mnasnet_kd_resnet8", "mnist5k_mnasnet_kd_mbv2"]


def test_the_shipped_mnist5k_tables_cover_the_tabulated_space():
    cfg = load_search_config("table_mnasnet_mnist5k", [])
    space = build_space(**cfg.space.model_dump())
    keys = {space.table_key(list(a)) for a in itertools.product(*map(range, space.sizes))}
    assert len(keys) == 1296
    for name in MNIST5K_COLUMNS:
        table = read_benchmark(name)
        assert set(table.rows) == keys, name  # every arch, once
        assert table.input_shape == (1, 28, 28) and table.num_classes == 10
        assert table.seed_columns == ["acc_seed0", "acc_seed1"] and "grid" not in table.meta
        acc = table.accuracy
        assert all(0.5 < acc[k] <= 1.0 for k in keys)  # trained digits classifiers, not chance
    teachers = {read_benchmark(n).meta["teacher"] for n in MNIST5K_COLUMNS}
    assert len(teachers) == len(MNIST5K_COLUMNS)  # none, and one ensemble per KD column


def test_akd_mnist5k_table_searches_the_shipped_kd_column(tmp_path):
    cfg = load_search_config("akd_mnist5k_table", [f"--run_dir={tmp_path / 'r'}", "--search.trials=16"])
    out = run_search(cfg, progress=False)
    table = read_benchmark("mnist5k_mnasnet_kd_resnet8")
    space = build_space(**cfg.space.model_dump())
    best = out.best[0]
    key = space.table_key(space.from_string(best["arch"]))
    assert out.trials == 16 and best["accuracy"] == pytest.approx(table.accuracy[key])
    assert best["macs"] == table.column("macs")[key]  # costs from the table's own columns


_HEAD = "# distillnas benchmark table\n# columns: accuracy acc_seed0 params\n"


@pytest.mark.parametrize("body,says", [
    ("a 90 91 10\nb 80 81 10\na 70 71 10\n", "line 5: arch a is already on line 3"),
    ("a 90 91 10\nb nan 81 10\n", "line 4: accuracy is nan"),
    ("a inf 91 10\n", "line 3: accuracy is inf"),
    ("a 90 -1 10\n", "line 3: acc_seed0 -1 is not a percentage"),
    ("a 1e308 91 10\n", "line 3: accuracy 1e+308 is not a percentage"),
    ("a 90 91 -5\n", "line 3: params -5 is negative"),
])
def test_a_table_with_a_duplicate_or_impossible_value_is_refused_naming_file_and_line(tmp_path, body, says):
    bad = tmp_path / "bad.txt"
    bad.write_text(_HEAD + body)
    with pytest.raises(DistillnasError, match=re.escape(says)):
        read_benchmark(bad)
    good = tmp_path / "good.txt"
    good.write_text(_HEAD + "c 90 91 10\n")
    with pytest.raises(DistillnasError, match=re.escape(says)):  # merge reads its parts the same way
        merge_tables([str(good), str(bad)])
    with pytest.raises(DistillnasError, match="every value must be a finite number"):
        write_benchmark(tmp_path / "out.txt", BenchmarkTable({}, ["accuracy"], {"x": [math.nan]}))


def test_packaged_tables_are_listed_and_checked_against_their_digests(tmp_path, monkeypatch, capsys):
    """`distillnas list tables` names every packaged table; a table used by name is checked
    against its folder's SHA256SUMS: altered or missing is one clear line, exit 2."""
    import shutil

    import distillnas.benchmarks.tables as tables_mod
    from distillnas.catalog import list_names
    from distillnas.cli import main

    listed = dict(list_names("tables"))
    assert set(listed) == set(tables_mod.packaged_tables()) >= {"diswot_s1_kd", "mnist5k_mnasnet_kd_resnet8"}
    assert listed["mnist5k_mnasnet_ce"].startswith("1,296 archs, mnist5k, CE")
    assert read_benchmark("diswot_s1_kd").accuracy  # the shipped files verify
    root = tmp_path / "benchmarks"
    shutil.copytree(tables_mod.tables_root(), root, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    monkeypatch.setattr(tables_mod, "tables_root", lambda: root)
    assert len(read_benchmark("mnist5k_mnasnet_ce").rows) == 1296
    kd = root / "diswot_s1" / "kd_accuracy.txt"
    kd.write_text(kd.read_text().replace("61.8700", "99.0000"))
    with pytest.raises(DistillnasError, match=r"packaged table 'diswot_s1_kd': .* was altered \(SHA-256"):
        read_benchmark("diswot_s1_kd")
    with pytest.raises(SystemExit) as e:
        main(["search", "--config", "akd_diswot", f"--run-dir={tmp_path / 'r'}", "--search.trials=2"])
    assert e.value.code == 2 and "was altered" in capsys.readouterr().err and not (tmp_path / "r").exists()
    kd.unlink()
    with pytest.raises(DistillnasError, match="its file .*kd_accuracy.txt' is missing; reinstall"):
        read_benchmark("diswot_s1_kd")
    (root / "diswot_s1" / "SHA256SUMS").unlink()
    with pytest.raises(DistillnasError, match="has no digest in its folder's SHA256SUMS"):
        read_benchmark("diswot_s1_ce")


def test_fmnist_table_searches_with_early_stopping_under_its_constraint(tmp_path):
    """The shipped Fashion-MNIST table holds every arch of `akd_fmnist_table`'s space at both
    fidelities, and nsga2 with successive halving over them keeps only 2-epoch trials in its
    front, every one within the 75,000-params target."""
    cfg = load_search_config("akd_fmnist_table", [
        f"--run_dir={tmp_path / 'r'}", "--search.trials=24", "--evaluator.fidelity.tables=[fmnist_mnasnet_kd_e1]",
        "--evaluator.fidelity.epochs=[1, 2]", "--evaluator.fidelity.eta=3"])
    high, low = read_benchmark("fmnist_mnasnet_kd"), read_benchmark("fmnist_mnasnet_kd_e1")
    assert set(high.rows) == set(low.rows) and len(high.rows) == 243
    outcome = run_search(cfg, progress=False)
    rows_ = TrialStore(outcome.run_dir / "trials.sqlite", readonly=True).trials()
    assert {r["extra"].get("fidelity") for r in rows_} == {1.0, 2.0}
    assert outcome.best and all(b["params"] <= 75000 for b in outcome.best)
    top = {r["arch"] for r in rows_ if r["extra"].get("fidelity") == 2.0}
    assert all(b["arch"] in top for b in outcome.best)


def test_fmnist_three_rung_ladder_promotes_through_every_rung(tmp_path):
    """The [1, 3, 9] tables hold the same 243 archs; halving over them evaluates at every rung,
    fewer archs at each higher rung, and keeps only 9-epoch trials within the target in its front."""
    names = ["fmnist_mnasnet_kd9_e1", "fmnist_mnasnet_kd9_e3", "fmnist_mnasnet_kd9"]
    tables = [read_benchmark(n) for n in names]
    assert all(set(t.rows) == set(tables[-1].rows) for t in tables) and len(tables[-1].rows) == 243
    cfg = load_search_config("akd_fmnist_table", [
        f"--run_dir={tmp_path / 'r'}", "--search.trials=36", "--evaluator.table=fmnist_mnasnet_kd9",
        f"--evaluator.fidelity.tables=[{names[0]}, {names[1]}]", "--evaluator.fidelity.epochs=[1, 3, 9]",
        "--evaluator.fidelity.eta=3"])
    outcome = run_search(cfg, progress=False)
    rows_ = TrialStore(outcome.run_dir / "trials.sqlite", readonly=True).trials()
    per_rung = [sum(r["extra"].get("fidelity") == f for r in rows_) for f in (1.0, 3.0, 9.0)]
    assert per_rung[0] > per_rung[1] > per_rung[2] > 0
    for r in rows_:  # each rung's score is looked up in its own table
        table = tables[(1.0, 3.0, 9.0).index(r["extra"]["fidelity"])]
        assert r["accuracy"] == pytest.approx(table.accuracy[r["arch"]])
    top = {r["arch"] for r in rows_ if r["extra"].get("fidelity") == 9.0}
    assert outcome.best and all(b["arch"] in top and b["params"] <= 75000 for b in outcome.best)


def test_table_hyperband_brackets_start_at_every_rung(tmp_path):
    """Under `evaluator.fidelity.mode=hyperband` batches cycle through Hyperband's brackets: the
    bracket that skips every low rung looks its archs up in the top table directly, paying its
    full epochs, so an arch a low rung ranks badly can still reach the front."""
    cfg = load_search_config("akd_fmnist_table", [
        f"--run_dir={tmp_path / 'r'}", "--search.trials=60", "--search.batch_size=9",
        "--evaluator.table=fmnist_mnasnet_kd9", "--evaluator.fidelity.mode=hyperband",
        "--evaluator.fidelity.tables=[fmnist_mnasnet_kd9_e1, fmnist_mnasnet_kd9_e3]",
        "--evaluator.fidelity.epochs=[1, 3, 9]", "--evaluator.fidelity.eta=3"])
    outcome = run_search(cfg, progress=False)
    rows_ = TrialStore(outcome.run_dir / "trials.sqlite", readonly=True).trials()
    firsts = {}  # batch -> the fidelity its first rung was looked up at, and how many archs it held
    for r in rows_:
        if r["extra"].get("rung", 0) == 0 and r["extra"].get("reused_from") is None:
            f, n = firsts.get(r["batch"], (r["extra"]["fidelity"], 0))
            firsts[r["batch"]] = (f, n + 1)
    assert [firsts[b][0] for b in sorted(firsts)][:3] == [1.0, 3.0, 9.0]
    assert firsts[0][1] == 9 and firsts[2][1] <= 3  # Hyperband's sizes: n, then n (s_max+1) eta^-s_max
    direct = [r for r in rows_ if r["batch"] == 2 and r["extra"].get("reused_from") is None]
    assert direct and all(r["extra"]["epochs_trained"] == 9.0 for r in direct)
    with pytest.raises(DistillnasError, match="mode"):
        load_search_config("akd_fmnist_table", [f"--run_dir={tmp_path / 'x'}", "--evaluator.fidelity.mode=asha",
                                                 "--evaluator.fidelity.tables=[fmnist_mnasnet_kd9_e1]",
                                                 "--evaluator.fidelity.epochs=[1, 9]"])
