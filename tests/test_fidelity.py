"""Multi-fidelity proxy training: a continued run is the run trained to the longer fidelity at
once, successive halving promotes the best of each rung, Hyperband's brackets."""
from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest
import torch

from distillnas.config import DataConfig
from distillnas.data import prepare_data
from distillnas.errors import DistillnasError
from distillnas.reward import trial_reward
from distillnas.runconfig import load_search_config
from distillnas.search import make_evaluator, run_search
from distillnas.rundir import RunDir
from distillnas.spaces import build_space
from distillnas.store import TrialStore
from distillnas.training import train_student
from distillnas.training.loop import recalibrated

from conftest import quick_cfg, tiny_overrides


def test_continuing_a_shorter_run_equals_training_to_the_longer_fidelity_at_once(tmp_path):
    ds, splits = prepare_data(DataConfig(name="synthetic"))
    cfg = lambda e: quick_cfg(optim={"epochs": e}, augment="none")  # noqa: E731
    once = train_student("resnet8-w0.25", cfg(3), ds, splits, seed=1, horizon=3, eval_splits=("minival",),
                         save_state=tmp_path / "once.pt")
    first = train_student("resnet8-w0.25", cfg(1), ds, splits, seed=1, horizon=3, eval_splits=("minival",),
                          save_state=tmp_path / "e1.pt")
    then = train_student("resnet8-w0.25", cfg(3), ds, splits, seed=1, horizon=3, eval_splits=("minival",),
                         resume_from=tmp_path / "e1.pt", save_state=tmp_path / "e3.pt")
    a, b = (torch.load(tmp_path / f, weights_only=True) for f in ("once.pt", "e3.pt"))
    assert then.continued and not first.continued and a["step"] == b["step"]
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert then.metrics == once.metrics
    # the horizon matters: a 1-epoch run with its own (1-epoch) schedule is another run
    alone = train_student("resnet8-w0.25", cfg(1), ds, splits, seed=1, horizon=None, eval_splits=("minival",),
                          save_state=tmp_path / "alone.pt")
    c = torch.load(tmp_path / "alone.pt", weights_only=True)
    d = torch.load(tmp_path / "e1.pt", weights_only=True)
    assert alone.status == "ok" and not all(torch.equal(c["model"][k], d["model"][k]) for k in c["model"])


def test_a_restarted_schedule_is_still_one_run_continued_rung_to_rung(tmp_path):
    """Schedule "rung" (warm restarts at every rung): rung 1 is an annealed 1-epoch run, and
    continuing it to rung 3 is, bit for bit, the run trained to 3 epochs at once."""
    ds, splits = prepare_data(DataConfig(name="synthetic"))
    cfg = lambda e: quick_cfg(optim={"epochs": e}, augment="none")  # noqa: E731
    kw = dict(seed=1, horizon=3, restarts=(1.0,), eval_splits=("minival",))
    once = train_student("resnet8-w0.25", cfg(3), ds, splits, save_state=tmp_path / "once.pt", **kw)
    train_student("resnet8-w0.25", cfg(1), ds, splits, save_state=tmp_path / "e1.pt", **kw)
    then = train_student("resnet8-w0.25", cfg(3), ds, splits, resume_from=tmp_path / "e1.pt",
                         save_state=tmp_path / "e3.pt", **kw)
    a, b = (torch.load(tmp_path / f, weights_only=True) for f in ("once.pt", "e3.pt"))
    assert then.continued and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert then.metrics == once.metrics
    # rung 1 under restarts is the 1-epoch run with its own 1-epoch schedule (warm-up included)
    alone = train_student("resnet8-w0.25", cfg(1), ds, splits, seed=1, eval_splits=("minival",),
                          save_state=tmp_path / "alone.pt")
    c, d = (torch.load(tmp_path / f, weights_only=True) for f in ("alone.pt", "e1.pt"))
    assert alone.status == "ok" and all(torch.equal(c["model"][k], d["model"][k]) for k in c["model"])


def test_recalibration_re_estimates_batch_norm_as_the_mean_of_its_batches():
    """The copy's running statistics are the plain mean of the batches' statistics (unbiased
    variance, as BatchNorm keeps it); the weights and the original model are untouched."""
    from types import SimpleNamespace
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3))
    model[1].running_mean.fill_(7.0)
    batches = [SimpleNamespace(x=torch.randn(4, 1, 6, 6) * (i + 1) + i) for i in range(3)]
    copied = recalibrated(model, batches, 2, torch.device("cpu"))
    with torch.no_grad():
        feats = [model[0](b.x) for b in batches[:2]]
    mean = sum(f.mean((0, 2, 3)) for f in feats) / 2
    var = sum(f.transpose(0, 1).reshape(3, -1).var(1, unbiased=True) for f in feats) / 2
    assert torch.allclose(copied[1].running_mean, mean, atol=1e-5)
    assert torch.allclose(copied[1].running_var, var, atol=1e-4)
    assert not copied.training and torch.equal(copied[0].weight, model[0].weight)
    assert torch.all(model[1].running_mean == 7.0)  # the trained model keeps its own statistics


def test_a_recalibrated_rung_keeps_the_state_its_continuation_starts_from(tmp_path):
    """Recalibrating changes how rung 1 is scored, never what it saves: the continued rung is
    bit for bit the one continued from an unrecalibrated rung 1."""
    ds, splits = prepare_data(DataConfig(name="synthetic"))
    cfg = lambda e: quick_cfg(optim={"epochs": e}, augment="none")  # noqa: E731
    kw = dict(seed=1, horizon=2, restarts=(1.0,), eval_splits=("minival",))
    plain = train_student("resnet8-w0.25", cfg(1), ds, splits, save_state=tmp_path / "a1.pt", **kw)
    recal = train_student("resnet8-w0.25", cfg(1), ds, splits, save_state=tmp_path / "b1.pt", recalibrate=3, **kw)
    a, b = (torch.load(tmp_path / f, weights_only=True) for f in ("a1.pt", "b1.pt"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"]) and a["step"] == b["step"]
    assert plain.metrics != recal.metrics
    ends = [train_student("resnet8-w0.25", cfg(2), ds, splits, resume_from=tmp_path / f, **kw) for f in ("a1.pt", "b1.pt")]
    assert ends[0].continued and ends[0].metrics == ends[1].metrics


def test_fidelity_recalibrate_scores_only_the_lower_rungs(tmp_path, teacher_dir, monkeypatch):
    """`fidelity.recalibrate`: rung 1 is scored recalibrated, the top rung as trained, so with
    every arch run at every rung (eta 1) the top rung's scores match a run without it."""
    import distillnas.evaluators.proxy as proxy
    seen, real = [], proxy.train_student
    monkeypatch.setattr(proxy, "train_student", lambda *a, **kw: seen.append(kw["recalibrate"]) or real(*a, **kw))
    scores = {}
    for name, k in (("plain", 0), ("recal", 4)):
        run = tmp_path / name
        extra = ["--evaluator.proxy.fidelity.epochs=[1, 2]", "--evaluator.proxy.fidelity.eta=1",
                 f"--evaluator.proxy.fidelity.recalibrate={k}", "--strategy.name=random"]
        run_search(load_search_config(None, tiny_overrides(run, teacher_dir, trials=6, batch=3, extra=extra)),
                   progress=False)
        scores[name] = {(t["arch"], t["extra"]["fidelity"]): t["accuracy"]
                        for t in TrialStore(run / "trials.sqlite").trials()}
    assert seen == [0] * 6 + [4] * 3 + [0] * 3
    assert scores["plain"].keys() == scores["recal"].keys()
    top = [k for k in scores["plain"] if k[1] == 2.0]
    low = [k for k in scores["plain"] if k[1] == 1.0]
    assert len(top) == len(low) == 3
    assert all(scores["plain"][k] == scores["recal"][k] for k in top)
    assert any(scores["plain"][k] != scores["recal"][k] for k in low)


def test_a_run_recorded_before_recalibrate_existed_resumes_scoring_as_trained(tmp_path, teacher_dir,
                                                                              monkeypatch, caplog):
    """`fidelity.recalibrate` came with a default of 5; a run recorded before it scored its lower
    rungs as trained, so it resumes at 0 (the setting's legacy value), while a new run gets 5."""
    import logging

    import yaml

    import distillnas.evaluators.proxy as proxy
    seen, real = [], proxy.train_student
    monkeypatch.setattr(proxy, "train_student", lambda *a, **kw: seen.append(kw["recalibrate"]) or real(*a, **kw))
    extra = ["--evaluator.proxy.fidelity.epochs=[1, 2]", "--evaluator.proxy.fidelity.eta=1", "--strategy.name=random"]
    run = tmp_path / "old"
    cfg = load_search_config(None, tiny_overrides(run, teacher_dir, trials=2, batch=1, extra=extra))
    assert cfg.evaluator.proxy.fidelity.recalibrate == 5
    run_search(cfg, progress=False)
    assert seen == [5, 0]
    path = run / "config.yaml"
    saved = yaml.safe_load(path.read_text())
    del saved["evaluator"]["proxy"]["fidelity"]["recalibrate"]  # as a version before it wrote it
    path.write_text(yaml.safe_dump(saved, sort_keys=False))
    seen.clear()
    with caplog.at_level(logging.INFO, logger="distillnas"):
        run_search(load_search_config(None, tiny_overrides(run, teacher_dir, trials=4, batch=1, extra=extra)),
                   progress=False)
    assert "resuming as it ran, with evaluator.proxy.fidelity.recalibrate=0" in caplog.text
    assert seen == [0, 0]


FID = ["--evaluator.proxy.fidelity.epochs=[1, 2]", "--evaluator.proxy.fidelity.eta=2"]


def test_successive_halving_promotes_the_best_half_and_continues_them(tmp_path, teacher_dir):
    run = tmp_path / "sh"
    cfg = load_search_config(None, tiny_overrides(run, teacher_dir, trials=6, batch=4, extra=FID))
    out = run_search(cfg, progress=False)
    store = TrialStore(run / "trials.sqlite")
    trials = store.trials()
    first = [t for t in trials if t["batch"] == 0 and t["extra"]["fidelity"] == 1.0]
    second = [t for t in trials if t["batch"] == 0 and t["extra"]["fidelity"] == 2.0]
    assert len(first) == 4 and len(second) == 2 and out.trials == store.count_paid() == 6
    ranked = sorted((t for t in first if t["status"] == "ok"), key=lambda t: (-trial_reward(t, out.reward), t["slot"]))
    assert [t["extra"]["origin"] for t in second] == [t["slot"] for t in ranked[:2]]
    assert [t["arch"] for t in second] == [t["arch"] for t in ranked[:2]]
    assert all(t["extra"]["continued"] and t["extra"]["epochs_trained"] == 1.0 for t in second)
    assert out.best and {b["arch"] for b in out.best} <= {t["arch"] for t in second}  # chosen from the last rung
    state = torch.load(run / "strategy.pt", weights_only=True)
    assert state["state"]["updates"] == 1  # one bracket, told once
    dashboard_prunes_the_first_rung(run, trials)


def test_the_rung_schedule_reaches_every_rung_s_training(tmp_path, teacher_dir, monkeypatch):
    """fidelity.schedule=rung: every rung's training restarts its cosine at the lower rungs'
    epochs (the horizon schedule passes none), and promoted archs still continue."""
    import distillnas.evaluators.proxy as proxy
    seen, real = [], proxy.train_student
    monkeypatch.setattr(proxy, "train_student", lambda *a, **kw: seen.append(kw["restarts"]) or real(*a, **kw))
    run = tmp_path / "rung"
    cfg = load_search_config(None, tiny_overrides(run, teacher_dir, trials=6, batch=4,
                                                  extra=FID + ["--evaluator.proxy.fidelity.schedule=rung"]))
    out = run_search(cfg, progress=False)
    second = [t for t in TrialStore(run / "trials.sqlite").trials() if t["extra"]["fidelity"] == 2.0]
    assert out.trials == 6 and seen == [(1.0,)] * 6
    assert len(second) == 2 and all(t["extra"]["continued"] and t["extra"]["epochs_trained"] == 1.0 for t in second)
    with pytest.raises(Exception, match="schedule"):
        load_search_config(None, tiny_overrides(run, teacher_dir, extra=FID + ["--evaluator.proxy.fidelity.schedule=sgdr"]))


def dashboard_prunes_the_first_rung(run, stored, top: float = 2.0) -> None:
    """In the run's dashboard mirror, first-rung trials are PRUNED with their accuracy at their
    epochs; only the last rung's are COMPLETE (and can enter the dashboard's Pareto front)."""
    optuna = pytest.importorskip("optuna")
    from distillnas.dashboard import mirror_run

    study = optuna.load_study(study_name=run.name, storage=mirror_run(run).storage)
    assert len(study.trials) == len(stored)
    for t, row in zip(study.trials, stored):
        assert t.user_attrs["fidelity"] == row["extra"]["fidelity"]
        if row["status"] != "ok":
            assert t.state.name == "FAIL"
        elif row["extra"]["fidelity"] < top:
            assert t.state.name == "PRUNED" and t.values is None
            assert t.intermediate_values == {1: pytest.approx(100 * row["accuracy"])}
        else:
            assert t.state.name == "COMPLETE"
            assert t.intermediate_values == {int(top): pytest.approx(100 * row["accuracy"])}
    assert {t.state.name for t in study.trials} >= {"PRUNED", "COMPLETE"}


def test_hyperband_brackets_cycle_with_hyperbands_sizes(tmp_path):
    cfg = load_search_config(None, [f"--run_dir={tmp_path / 'h'}", "--evaluator.proxy.fidelity.epochs=[1, 3, 9]",
                                    "--evaluator.proxy.fidelity.mode=hyperband", "--cost.latency=none"])
    space = build_space(**cfg.space.model_dump())
    ev = make_evaluator(cfg, space, RunDir(tmp_path / "h"), None)
    assert [(ev.ask_size(b, 9), ev.rungs(b)) for b in range(4)] == [
        (9, [1.0, 3.0, 9.0]), (5, [3.0, 9.0]), (3, [9.0]), (9, [1.0, 3.0, 9.0])]
    assert ev.promote == "strata"  # the proxy's fidelity section carries the promotion order too
    told = load_search_config(None, [f"--run_dir={tmp_path / 'h'}", "--evaluator.proxy.fidelity.epochs=[1, 3]",
                                     "--evaluator.proxy.fidelity.promote=front", "--cost.latency=none"])
    assert make_evaluator(told, space, RunDir(tmp_path / "h"), None).promote == "front"


@pytest.mark.parametrize("bad", ["[3]", "[3, 1]", "[0, 2]"])
def test_fidelity_epochs_must_increase(tmp_path, bad):
    with pytest.raises(DistillnasError, match="fidelity.epochs must be two or more increasing"):
        load_search_config(None, [f"--run_dir={tmp_path}", f"--evaluator.proxy.fidelity.epochs={bad}"])


def test_a_repeat_is_reused_only_at_its_own_fidelity(tmp_path):
    store = TrialStore(tmp_path / "s.sqlite")
    store.add_batch(0, [(0,)])
    store.add_trial(0, 0, {"arch": "a", "tokens": [0], "status": "ok", "accuracy": 0.5, "extra": {"fidelity": 3.0}})
    assert store.find("a", 3.0)["accuracy"] == 0.5
    assert store.find("a", 1.0) is None and store.find("a") is None
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 1


def test_a_work_queue_runs_by_priority_and_may_grow_while_drained():
    from distillnas.execution import LocalExecutor, WorkQueue
    from distillnas.execution.base import ExecutionConfig

    q, seen = WorkQueue(), []
    for i in range(3):
        q.put(("first", i), lambda x: x, (i,), priority=0)
    for key, result in LocalExecutor(ExecutionConfig()).drain(q):
        seen.append(key)
        if key == ("first", 0):
            q.put(("promoted", 0), lambda x: 10 * x, (5,), priority=1)  # queued late, runs next
    assert seen == [("first", 0), ("promoted", 0), ("first", 1), ("first", 2)]


ASHA = [*FID, "--evaluator.proxy.fidelity.mode=asha"]


def test_asha_promotes_before_the_first_rung_finishes_and_ends_with_halvings_count(tmp_path, teacher_dir):
    run = tmp_path / "asha"
    cfg = load_search_config(None, tiny_overrides(run, teacher_dir, trials=6, batch=4, extra=ASHA))
    out = run_search(cfg, progress=False)
    with sqlite3.connect(run / "trials.sqlite") as db:
        order = [s for (s,) in db.execute("SELECT slot FROM trials WHERE batch = 0 ORDER BY id")]
    trials = TrialStore(run / "trials.sqlite").trials()
    first = {t["slot"]: t for t in trials if t["batch"] == 0 and t["slot"] < 4}
    second = [t for t in trials if t["batch"] == 0 and t["slot"] >= 4]
    assert len(first) == 4 and 2 <= len(second) <= 3 and out.trials == 4 + len(second)
    assert order.index(4) < order.index(3)  # a promotion ran before the last first-rung trial
    assert all(t["extra"]["rung"] == 1 and t["extra"]["continued"] for t in second)
    origins = [t["extra"]["origin"] for t in second]
    ranked = sorted((s for s, t in first.items() if t["status"] == "ok"),
                    key=lambda s: (-trial_reward(first[s], out.reward), s))
    assert len(set(origins)) == len(origins) and set(ranked[:2]) <= set(origins)  # halving's top 2, at least
    assert [t["arch"] for t in second] == [first[o]["arch"] for o in origins]


def test_asha_under_a_real_ray_instance(tmp_path, teacher_dir):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        run = tmp_path / "ray_asha"
        cfg = load_search_config(None, tiny_overrides(run, teacher_dir, trials=6, batch=4,
                                                      extra=[*ASHA, "--execution.executor=ray"]))
        out = run_search(cfg, progress=False)
        trials = TrialStore(run / "trials.sqlite").trials()
        promoted = [t for t in trials if t["slot"] >= 4]
        assert out.trials == len(trials) and 2 <= len(promoted) <= 3
        assert all(t["status"] == "ok" and t["extra"]["continued"] for t in promoted)
        assert run_search(cfg, progress=False).evaluated == 0  # a finished run resumes to nothing
    finally:
        ray.shutdown()


def _toy_trial(fidelity: float, tokens: tuple, seed: int):
    """A deterministic 'training': accuracy from the arch and the rung, no network."""
    from distillnas.evaluators import TrialResult

    acc = (1 + sum(tokens)) / 10 + fidelity / 100
    return TrialResult(str(tokens), list(tokens), "ok", acc, params=1, macs=1, latency_ms=0.0,
                       extra={"fidelity": fidelity, "continued": True})


class _ToyEvaluator:
    """The lifecycle calls `_run_asha` makes, around `_toy_trial` (the loop's own code is under test)."""

    eta, reuse_repeats, asynchronous, promote = 2, True, True, "front"

    def rungs(self, b):
        return [1.0, 2.0]

    def task(self, fidelity=None, resume=None):
        return _toy_trial, fidelity


def test_asha_resumed_with_a_repeat_of_a_stored_slot_finishes_its_bracket(tmp_path):
    from distillnas.batch import _run_asha
    from distillnas.execution import LocalExecutor
    from distillnas.execution.base import ExecutionConfig
    from distillnas.progress import SearchProgress

    cfg = load_search_config(None, [f"--run_dir={tmp_path}", "--reward.mode=hard", "--reward.reference=null",
                                    "--reward.metric=params", "--reward.target=1e9"])
    space = build_space("resnet_depth", depths=[1, 2, 3])
    archs = [(0, 0, 0), (1, 0, 0), (0, 0, 0), (2, 2, 2)]  # slot 2 repeats slot 0
    store = TrialStore(tmp_path / "s.sqlite")
    store.add_batch(0, archs)
    first = _toy_trial(1.0, archs[0], 0).as_dict()
    # stored before a kill, and failed: so its repeat (slot 2) copies it instead of a stored success
    store.add_trial(0, 0, {**first, "arch": space.to_string(archs[0]), "status": "failed", "accuracy": None})
    bar = SearchProgress(False, 10, store, cfg.reward)
    paid = _run_asha(store, 0, archs, space, _ToyEvaluator(), LocalExecutor(ExecutionConfig()), cfg, bar, [1.0, 2.0])
    results = store.batch_results(0)
    assert set(range(4)) <= set(results) and results[2]["extra"]["reused_from"] == results[0]["id"]
    promoted = [r for s, r in results.items() if s >= 4]
    assert results[2]["status"] == "failed" and paid == 2 + len(promoted)  # slots 1 and 3 trained
    assert {r["extra"]["origin"] for r in promoted} == {1, 3}  # the rung completed: ceil(4 / 2) of its 2 successes


def _toy_named_trial(fidelity: float, tokens: tuple, seed: int):
    """`_toy_trial` under the arch's canonical string, so the store finds its repeats."""
    r = _toy_trial(fidelity, tokens, seed)
    return replace(r, arch=build_space("resnet_depth", depths=[1, 2, 3]).to_string(tuple(tokens)))


class _NamedToyEvaluator(_ToyEvaluator):
    eta, tell_first = 1, False

    def __init__(self, asynchronous: bool) -> None:
        self.asynchronous = asynchronous

    def task(self, fidelity=None, resume=None):
        return _toy_named_trial, fidelity

    def work(self, tokens):
        return 0.0


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_repeat_is_copied_at_every_rung_it_reaches_not_retrained(tmp_path, asynchronous):
    """A repeat of a stored arch is free at its first rung, and at every later rung it is
    promoted to where the store holds the arch already (found in a 243-arch table run: repeats
    were retrained from scratch at the top rung); an arch promoted twice in one bracket is
    trained once."""
    from distillnas.batch import run_batch, told_results
    from distillnas.execution import LocalExecutor
    from distillnas.execution.base import ExecutionConfig
    from distillnas.progress import SearchProgress

    cfg = load_search_config(None, [f"--run_dir={tmp_path}", "--reward.mode=hard", "--reward.reference=null",
                                    "--reward.metric=params", "--reward.target=1e9"])
    space, ev = build_space("resnet_depth", depths=[1, 2, 3]), _NamedToyEvaluator(asynchronous)
    store = TrialStore(tmp_path / "s.sqlite")
    bar, run = SearchProgress(False, 10, store, cfg.reward), LocalExecutor(ExecutionConfig())
    first = [(0, 0, 0), (1, 0, 0), (2, 2, 2)]
    store.add_batch(0, first)
    assert run_batch(store, 0, first, space, ev, run, cfg, bar) == 6  # 3 archs x 2 rungs (eta 1)
    again = [(1, 0, 0), (0, 0, 0), (1, 0, 0)]
    store.add_batch(1, again)
    assert run_batch(store, 1, again, space, ev, run, cfg, bar) == 0
    results = store.batch_results(1)
    top = [r for s, r in results.items() if s >= 3]
    assert len(top) == 3 and all(r["extra"]["reused_from"] is not None and r["extra"]["fidelity"] == 2.0 for r in top)
    assert sorted(r["extra"]["origin"] for r in top) == [0, 1, 2] and {r["extra"]["rung"] for r in top} == {1}
    told = told_results(store, 1, 3, ev)
    assert [told[s]["accuracy"] for s in range(3)] == [_toy_trial(2.0, a, 0).accuracy for a in again]
    if not asynchronous:  # synchronous halving also trains an arch promoted twice in one bracket once
        twice = [(2, 1, 0), (2, 1, 0)]
        store.add_batch(2, twice)
        assert run_batch(store, 2, twice, space, ev, run, cfg, bar) == 2
        assert sum(r["extra"].get("reused_from") is not None for r in store.batch_results(2).values()) == 2


def test_the_proxy_section_gives_its_training_config_without_copying_fields_by_hand():
    from distillnas.config import TrainConfig, validate
    from distillnas.evalconfig import ProxyConfig

    p = validate(ProxyConfig, {"epochs": 2, "lr": 0.05, "teacher_views": 3, "augment": "random",
                               "loss": {"name": "dkd", "temperature": 2.0}})
    cfg = p.train_config(0.5, device="cpu", channels_last="off", precision="fp32")
    same = validate(TrainConfig, cfg.model_dump())  # what validation would make of it: nothing changes
    assert cfg.model_dump() == same.model_dump()
    assert cfg.optim.epochs == 0.5 and cfg.optim.lr == 0.05 and cfg.optim.weight_decay == p.weight_decay
    assert (cfg.teacher_views, cfg.augment, cfg.loss.name, cfg.device) == (3, "random", "dkd", "cpu")
    assert p.train_config().optim.epochs == 2


def test_two_objective_promotions_follow_constrained_pareto_ranks():
    """nsga2 under successive halving: a rung promotes by Deb's constrained non-dominated
    sorting (within the target first, then front by front), not by the scalar reward."""
    from distillnas.reward import RewardConfig
    from distillnas.selection import promotion_order

    reward = RewardConfig(metric="macs", reference=None, target=10.0, mode="hard")
    r = lambda acc, macs, status="ok": {"status": status, "accuracy": acc, "macs": macs, "params": 1,  # noqa: E731
                                        "latency_ms": 1.0}
    results = {0: r(0.80, 2.0), 1: r(0.90, 9.0), 2: r(0.85, 9.5), 3: r(0.95, 30.0), 4: r(0.70, 1.0),
               5: r(0.99, 1.0, "failed")}
    # front 0 within the target: 0 (cheap), 1 (accurate), 4 (cheapest); 2 is dominated by 1; 3 is over the target
    order = promotion_order(results, reward, objectives=2)
    assert set(order[:3]) == {0, 1, 4} and order[3:] == [2, 3] and 5 not in order
    assert promotion_order(results, reward, objectives=1)[0] == 1  # one objective: by reward


def test_stratified_promotions_take_the_best_of_each_cost_stratum():
    """promote: strata - the students within the target, cut by cost into k strata of equal
    count, each ranked by accuracy: the best of every stratum go first, where Pareto fronts
    would promote two from the expensive end."""
    from distillnas.reward import RewardConfig
    from distillnas.selection import promotion_order

    reward = RewardConfig(metric="macs", reference=None, target=10.0, mode="hard")
    r = lambda acc, macs: {"status": "ok", "accuracy": acc, "macs": macs, "params": 1, "latency_ms": 1.0}  # noqa: E731
    results = {0: r(0.70, 1.0), 1: r(0.72, 2.0), 2: r(0.71, 3.0), 3: r(0.90, 4.0), 4: r(0.95, 5.0),
               5: r(0.93, 6.0), 6: r(0.99, 20.0)}
    assert promotion_order(results, reward, objectives=2) == [4, 3, 1, 0, 5, 2, 6]  # fronts {0, 1, 3, 4}, {2, 5}
    assert promotion_order(results, reward, objectives=2, strata=2) == [4, 1, 5, 2, 3, 0, 6]  # {0,1,2} {3,4,5}
    assert promotion_order(results, reward, objectives=2, strata=3) == [4, 3, 1, 5, 2, 0, 6]  # {0,1} {2,3} {4,5}
    assert promotion_order(results, reward, objectives=1, strata=2) == promotion_order(results, reward, objectives=1)


def _table_halving(run, trials: int, *extra: str):  # noqa: ANN202
    return load_search_config("akd_diswot", [f"--run_dir={run}", f"--search.trials={trials}", "--search.batch_size=8",
                                             "--strategy.name=nsga2", "--strategy.nsga2.population=8",
                                             "--evaluator.fidelity.tables=[diswot_s1_ce]",
                                             "--evaluator.fidelity.epochs=[1, 3]", "--evaluator.fidelity.eta=2", *extra])


def _promoted_as(store: TrialStore, b: int, reward, strata: bool) -> bool:  # noqa: ANN001
    """Whether batch b continued exactly the top ceil(n / 2) of its first rung in that order."""
    from distillnas.selection import promotion_order

    res = store.batch_results(b)
    first = {s: r for s, r in res.items() if r["extra"].get("fidelity") == 1.0}
    k = -(-len(first) // 2)
    promoted = {r["extra"]["origin"] for r in res.values() if r["extra"].get("fidelity") == 3.0}
    return promoted == set(promotion_order(first, reward, objectives=2, strata=k if strata else 0)[:k])


def test_a_table_search_promotes_within_cost_strata_by_default(tmp_path):
    """fidelity.promote (default strata) reaches every bracket's promotions: each batch continues
    exactly the top ceil(n / eta) of its first rung in the stratified order, or by Pareto front
    when told `front`."""
    for promote, strata in (([], True), (["--evaluator.fidelity.promote=front"], False)):
        run = tmp_path / f"ts{strata}"
        cfg = _table_halving(run, 24, *promote)
        assert cfg.evaluator.fidelity.promote == ("strata" if strata else "front")
        run_search(cfg, progress=False)
        store = TrialStore(run / "trials.sqlite")
        batches = {t["batch"] for t in store.trials()}
        assert len(batches) >= 2 and all(_promoted_as(store, b, cfg.reward, strata) for b in batches)
    assert not all(_promoted_as(store, b, cfg.reward, True) for b in batches)  # the two orders differ here


def test_a_run_recorded_before_promote_existed_resumes_promoting_by_front(tmp_path, caplog):
    """`fidelity.promote` came with a new default (strata); a run recorded before it promoted by
    Pareto front, so it resumes that way (its record reads as `front`, the setting's legacy value)
    unless told otherwise, and told otherwise it is a different run."""
    import logging

    import yaml

    run = tmp_path / "old"
    run_search(_table_halving(run, 16, "--evaluator.fidelity.promote=front"), progress=False)
    path = run / "config.yaml"
    saved = yaml.safe_load(path.read_text())
    del saved["evaluator"]["fidelity"]["promote"]  # as a version before fidelity.promote wrote it
    path.write_text(yaml.safe_dump(saved, sort_keys=False))
    with pytest.raises(DistillnasError, match="differs in: evaluator.fidelity.promote"):
        run_search(_table_halving(run, 24, "--evaluator.fidelity.promote=strata"), progress=False)
    with caplog.at_level(logging.INFO, logger="distillnas"):
        out = run_search(cfg := _table_halving(run, 24), progress=False)
    assert "resuming as it ran, with evaluator.fidelity.promote=front" in caplog.text
    assert out.evaluated > 0 and yaml.safe_load(path.read_text())["evaluator"]["fidelity"]["promote"] == "front"
    store = TrialStore(run / "trials.sqlite")
    assert all(_promoted_as(store, b, cfg.reward, False) for b in {t["batch"] for t in store.trials()})
    assert RunDir(run).load_config().evaluator.fidelity.promote == "front"


def test_a_table_search_halves_over_a_lower_fidelity_table(tmp_path):
    """Successive halving over tables: rung 0 is looked up in the cheaper table, the best
    1/eta go on to the main one; only last-rung trials are chosen or complete."""
    from distillnas.benchmarks import read_benchmark

    run = tmp_path / "tf"
    cfg = load_search_config("akd_diswot", [f"--run_dir={run}", "--search.trials=16", "--search.batch_size=8",
                                            "--strategy.name=nsga2", "--strategy.nsga2.population=8",
                                            "--evaluator.fidelity.tables=[diswot_s1_ce]",
                                            "--evaluator.fidelity.epochs=[1, 3]", "--evaluator.fidelity.eta=2"])
    out = run_search(cfg, progress=False)
    low, high = read_benchmark("diswot_s1_ce").accuracy, read_benchmark("diswot_s1_kd").accuracy
    space = build_space("resnet_depth", depths=[1, 3, 5, 7])
    rows = TrialStore(run / "trials.sqlite").trials()
    first = [t for t in rows if t["extra"].get("fidelity") == 1.0]
    last = [t for t in rows if t["extra"].get("fidelity") == 3.0]
    assert first and last and len(first) + len(last) == len(rows)
    for t in first:
        assert t["accuracy"] == pytest.approx(low[space.table_key(tuple(t["tokens"]))]) and not t["extra"]["continued"]
    for t in last:
        assert t["accuracy"] == pytest.approx(high[space.table_key(tuple(t["tokens"]))])
        assert t["extra"]["continued"] and t["extra"]["epochs_trained"] == 2.0
    per_batch = {b: sum(1 for t in first if t["batch"] == b) for b in {t["batch"] for t in first}}
    assert all(sum(1 for t in last if t["batch"] == b) == -(-n // 2) for b, n in per_batch.items())  # ceil(n / eta)
    assert {b["arch"] for b in out.best} <= {t["arch"] for t in last}
    dashboard_prunes_the_first_rung(run, rows, top=3.0)


def test_a_lower_fidelity_table_must_cover_the_main_one(tmp_path):
    part = tmp_path / "part.txt"
    part.write_text("111 50.0\n113 60.0\n")
    with pytest.raises(DistillnasError, match="lacks 62 arch"):
        run_search(load_search_config("akd_diswot", [f"--run_dir={tmp_path / 'r'}", f"--evaluator.fidelity.tables=[{part}]",
                                                     "--evaluator.fidelity.epochs=[1, 3]"]), progress=False)
    with pytest.raises(DistillnasError, match="increasing fidelities"):
        load_search_config("akd_diswot", ["--evaluator.fidelity.tables=[diswot_s1_ce]", "--evaluator.fidelity.epochs=[3, 1]"])


def test_a_first_rung_inside_the_warm_up_is_warned_about(tmp_path, teacher_dir, caplog):
    """A rung that ends inside the warm-up scores archs mid-warm-up (at chance on mnist5k): say so."""
    import logging

    from distillnas.setup import check_config

    base = tiny_overrides(tmp_path / "w", teacher_dir, extra=["--evaluator.proxy.fidelity.epochs=[1, 3]",
                                                               "--evaluator.proxy.epochs=3"])
    with caplog.at_level(logging.WARNING, logger="distillnas"):
        check_config(load_search_config(None, [*base, "--evaluator.proxy.warmup_epochs=1"]))
    assert "inside the 1-epoch warm-up" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="distillnas"):
        check_config(load_search_config(None, [*base, "--evaluator.proxy.warmup_epochs=0.3"]))
    assert "warm-up" not in caplog.text


def test_a_ladder_that_leaves_few_archs_is_warned_about(tmp_path, teacher_dir, caplog):
    """eta 1 pays one trial per rung: 16 trials over a 2-rung ladder are 8 archs, not 16."""
    import logging

    from distillnas.setup import check_config

    ladder = ["--evaluator.proxy.fidelity.epochs=[1, 3]", "--evaluator.proxy.fidelity.eta=1",
              "--evaluator.proxy.epochs=3", "--evaluator.proxy.warmup_epochs=0.3"]
    with caplog.at_level(logging.WARNING, logger="distillnas"):
        check_config(load_search_config(None, tiny_overrides(tmp_path / "w", teacher_dir, trials=16, batch=2,
                                                             extra=ladder)))
    assert "search.trials=16 covers 8 archs (4 batch(es) of 2)" not in caplog.text  # 4 batches: enough
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="distillnas"):
        check_config(load_search_config(None, tiny_overrides(tmp_path / "w", teacher_dir, trials=16, batch=4,
                                                             extra=ladder)))
    assert "search.trials=16 covers 8 archs (2 batch(es) of 4)" in caplog.text and "raise search.trials to 2 x" in caplog.text
