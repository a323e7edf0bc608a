import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from distillnas.errors import DistillnasError
from distillnas.execution import EXECUTORS, LocalExecutor
from distillnas.runconfig import load_search_config
from distillnas.retrain import retrain_from_run
from distillnas.search import run_search
from distillnas.store import TrialStore

from conftest import rows, tiny_overrides

from distillnas.benchmarks import table_path

DISWOT = table_path("diswot_s1_kd").parent  # shipped as package data


def test_search_end_to_end_resume_extend_and_retrain(tmp_path, teacher_dir):
    cfg = load_search_config(None, tiny_overrides(tmp_path / "run", teacher_dir))
    out = run_search(cfg, progress=False)
    stored = rows(tmp_path / "run")
    reused = sum(1 for r in TrialStore(tmp_path / "run" / "trials.sqlite").trials() if "reused_from" in r["extra"])
    assert out.trials == 4 and out.evaluated == 4 - reused
    assert [(b, s) for b, s, *_ in stored] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(r[3] == "ok" for r in stored)
    best = yaml.safe_load((tmp_path / "run" / "best.yaml").read_text())
    assert best["space"]["blocks"] == 2 and 1 <= len(best["archs"]) <= 2
    assert best["archs"][0]["reward"] >= best["archs"][-1]["reward"]
    assert (tmp_path / "run" / "config.yaml").is_file() and (tmp_path / "run" / "strategy.pt").is_file()
    # same command again: nothing re-run
    again = run_search(cfg, progress=False)
    assert again.evaluated == 0 and rows(tmp_path / "run") == stored
    # more trials on the same run: only the new ones run
    more = run_search(load_search_config(None, tiny_overrides(tmp_path / "run", teacher_dir, trials=6)), progress=False)
    assert more.trials == 6 and rows(tmp_path / "run")[:4] == stored
    state = torch.load(tmp_path / "run" / "strategy.pt", weights_only=True)
    assert state["state"]["updates"] == 3 and state["phase"] == "told"
    # retrain the best from the run (best.yaml now reflects all 6 trials)
    best = yaml.safe_load((tmp_path / "run" / "best.yaml").read_text())
    runs = retrain_from_run(tmp_path / "run", top=1)
    assert runs[0].status == "ok" and runs[0].arch == best["archs"][0]["arch"]
    from distillnas.checkpoint import load_student
    model, meta = load_student(runs[0].checkpoint)
    assert meta["space"]["name"] == "mnasnet" and model(torch.zeros(1, 3, 16, 16)).shape == (1, 10)


def test_a_changed_config_refuses_to_resume(tmp_path, teacher_dir):
    run_search(load_search_config(None, tiny_overrides(tmp_path / "r", teacher_dir, trials=2)), progress=False)
    with pytest.raises(DistillnasError, match="different config \\(differs in: reward.target\\)"):
        run_search(load_search_config(None, tiny_overrides(tmp_path / "r", teacher_dir, trials=2,
                                                           extra=["--reward.target=9"])), progress=False)


def test_a_run_started_before_a_new_setting_resumes(tmp_path, teacher_dir):
    """A setting added to distillnas after a run started is absent from its config.yaml; at its
    default it is the same run (an upgrade must not strand a run), at another value it is not."""
    run_search(load_search_config(None, tiny_overrides(tmp_path / "r", teacher_dir, trials=2)), progress=False)
    path = tmp_path / "r" / "config.yaml"
    saved = yaml.safe_load(path.read_text())
    del saved["evaluator"]["proxy"]["fidelity"]["tell"]  # as a version before fidelity.tell wrote it
    del saved["reward"]["mode"]
    path.write_text(yaml.safe_dump(saved, sort_keys=False))
    more = run_search(load_search_config(None, tiny_overrides(tmp_path / "r", teacher_dir, trials=3)), progress=False)
    assert more.trials == 3 and more.evaluated == 1
    path.write_text(yaml.safe_dump(saved, sort_keys=False))
    with pytest.raises(DistillnasError, match="differs in: evaluator.proxy.fidelity.tell"):
        run_search(load_search_config(None, tiny_overrides(tmp_path / "r", teacher_dir, trials=3,
                                                           extra=["--evaluator.proxy.fidelity.tell=first"])),
                   progress=False)


def test_diverging_candidates_are_failed_trials_and_the_search_goes_on(tmp_path, teacher_dir):
    cfg = load_search_config(None, tiny_overrides(tmp_path / "d", teacher_dir, trials=2,
                                                  extra=["--evaluator.proxy.lr=1e30"]))
    out = run_search(cfg, progress=False)
    statuses = {r[3] for r in rows(tmp_path / "d")}
    assert out.trials == 2 and statuses <= {"diverged", "failed"} and out.best == []
    with pytest.raises(DistillnasError, match="no finished successful trials"):
        retrain_from_run(tmp_path / "d")


@pytest.mark.parametrize("strategy", ["ppo", "reinforce", "evolution", "tpe", "gp", "random"])
def test_table_search_on_diswot_finds_good_students(tmp_path, strategy):
    cfg = load_search_config("akd_diswot", [f"--run_dir={tmp_path / 'w'}", f"--strategy.name={strategy}",
                                            "--evaluator.table=diswot_s1_kd", "--cost.latency=none",
                                            "--search.trials=48", "--reward.mode=hard", "--reward.target=1e9"])
    out = run_search(cfg, progress=False)
    kd = {line.split()[0]: float(line.split()[1]) for line in (DISWOT / "kd_accuracy.txt").read_text().splitlines()}
    best_code = "".join(out.best[0]["arch"].split("-")[1:])
    assert out.trials == 48 or (out.converged and out.trials < 48 and out.reused > 0)
    assert 100 * out.best[0]["accuracy"] == pytest.approx(kd[best_code])
    assert kd[best_code] >= sorted(kd.values())[-10]  # hard target met by all: reward = accuracy


KDAS_KILL = ["--config", "kdas_mnist5k", "--data.name=synthetic", "--space.backbone=resnet8-w0.25",
             "--space.layers=[2, 1, 1]", "--evaluator.supernet.epochs_per_batch=3",
             "--evaluator.supernet.batch_size=64", "--evaluator.supernet.reward_batch=32",
             "--evaluator.supernet.selection_samples=8", "--search.trials=8", "--search.batch_size=4"]


GRID_SPACE = "--space.restrict={'b*.se': [0.0], 'b*.skip': ['id'], 'b*.width': [1.0], 'b*.depth': [0], 'b*.kernel': [3]}"


SCREEN = ["--evaluator.proxy.screen.score=diswot", "--evaluator.proxy.screen.factor=4",
          "--evaluator.proxy.screen.batch_size=16"]


FIDELITY = ["--evaluator.proxy.fidelity.epochs=[1, 2]", "--evaluator.proxy.fidelity.eta=2"]


@pytest.mark.parametrize("kind", ["akd", "kdas", "grid", "screen", "fidelity", "asha"])
def test_sigkill_mid_batch_then_resume(tmp_path, teacher_dir, kind):
    run = tmp_path / "k"
    if kind in ("akd", "grid", "screen", "fidelity", "asha"):
        grid = {"grid": ["--strategy.name=grid", GRID_SPACE], "screen": SCREEN, "fidelity": FIDELITY,
                "asha": [*FIDELITY, "--evaluator.proxy.fidelity.mode=asha"]}.get(kind, [])
        args = ["search", "--no-progress", *tiny_overrides(run, teacher_dir, trials=8, batch=4, extra=grid)]
    else:
        args = ["search", "--no-progress", f"--run_dir={run}", f"--teacher.spec=[{teacher_dir}]", *KDAS_KILL]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # the child stops still right after the store holds a count inside a batch (or rung), and
    # is killed there: no polling window to miss on a busy machine
    at = {"kdas": range(1, 8), "fidelity": (4, 5), "asha": (2, 3, 4)}.get(kind, [n for n in range(1, 64) if n % 4])
    marker = tmp_path / "paused"
    pause = {**env, "PAUSE_AT": ",".join(map(str, at)), "PAUSE_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "pausing_child.py"), *args], env=pause,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline, killed_at = time.time() + 240, None
    while time.time() < deadline and proc.poll() is None and not marker.exists():
        time.sleep(0.05)
    if marker.exists():
        proc.send_signal(signal.SIGKILL)
        killed_at = int(marker.read_text())
    proc.wait()
    assert killed_at is not None, proc.stderr.read().decode()[-2000:]
    before = rows(run)
    state = torch.load(run / "strategy.pt", weights_only=True)
    if kind != "kdas":
        assert state["phase"] == "asked"  # the controller had asked for the batch it was killed in
    done = subprocess.run([sys.executable, "-m", "distillnas", *args], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    after = rows(run)
    assert after[: len(before)] == before  # no finished trial lost or rewritten
    slots = 16 if kind == "screen" else 4  # a screen asks 4x the batch and trains its best quarter
    if kind == "asha":  # promotions depend on arrival order: check what must hold whatever it was
        trials = TrialStore(run / "trials.sqlite").trials()
        assert sum(t["slot"] < 4 for t in trials if t["batch"] == 0) == 4
        assert sum(t["slot"] < 2 for t in trials if t["batch"] == 1) == 2
        promoted = [t for t in trials if t["extra"].get("rung") == 1]
        assert promoted and all(t["extra"]["continued"] for t in promoted)
        for b in range(2):
            origins = [t["extra"]["origin"] for t in promoted if t["batch"] == b]
            assert len(origins) == len(set(origins))  # no arch continued twice
        return
    if kind == "fidelity":  # 8 evaluations: 4 archs at 1 epoch, their best 2 continued to 2; then 1 + 1
        assert sorted((b, s) for b, s, *_ in after) == [(0, s) for s in range(6)] + [(1, 0), (1, 1), (1, 2)]
        promoted = [t for t in TrialStore(run / "trials.sqlite").trials() if t["extra"].get("rung") == 1]
        assert len(promoted) == 3 and all(t["extra"]["continued"] for t in promoted)
        return
    assert sorted((b, s) for b, s, *_ in after) == [(b, s) for b in range(2) for s in range(slots)]  # each once
    if kind == "screen":
        store = TrialStore(run / "trials.sqlite")
        kept, trials = store.screen_kept(), store.trials()
        assert store.count_paid() == 8 and sum(t["status"] == "screened" for t in trials) == 24
        for b in range(2):
            out = [t["extra"]["screen"]["diswot"] for t in trials if t["batch"] == b and t["status"] == "screened"]
            assert len(kept[b]) == 4 and min(kept[b].values()) >= max(out)  # the best quarter was trained
    final = torch.load(run / "strategy.pt", weights_only=True)
    # one tell per batch, plus (KDAS) the controller steps after each shared-weight phase
    steps = 1 if kind != "kdas" else 1 + load_search_config("kdas_mnist5k").evaluator.supernet.controller_steps
    assert final["state"]["updates"] == 2 * steps and final["batch"] == 1
    assert TrialStore(run / "trials.sqlite").next_batch() == 2
    if kind == "kdas":
        assert torch.load(run / "supernet.pt", weights_only=True)["trained"] == 2
    if kind == "grid":  # the first 8 archs of the seeded order, each once, as if never killed
        from distillnas.spaces import build_space
        from distillnas.strategies import GridSearch

        space = build_space("mnasnet", blocks=2, restrict=yaml.safe_load(GRID_SPACE.partition("=")[2]))
        assert [r[2] for r in sorted(after)] == [space.to_string(t) for t in GridSearch(space.sizes, seed=0).ask(8)]


def test_ray_executor_end_to_end(tmp_path, teacher_dir):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        cfg = load_search_config(None, tiny_overrides(tmp_path / "ray", teacher_dir, trials=4,
                                                      extra=["--execution.executor=ray"]))
        out = run_search(cfg, progress=False)
        stored = rows(tmp_path / "ray")
        assert out.trials == 4 and 1 <= out.evaluated <= 4 and len(stored) == 4
        assert sorted((b, s) for b, s, *_ in stored) == [(0, 0), (0, 1), (1, 0), (1, 1)]
        assert all(r[3] == "ok" for r in stored), TrialStore(tmp_path / "ray" / "trials.sqlite").trials()
        assert run_search(cfg, progress=False).evaluated == 0
    finally:
        ray.shutdown()


def test_a_missing_table_fails_before_searching(tmp_path):
    with pytest.raises(DistillnasError, match="benchmark table '/nowhere.txt' does not exist"):
        run_search(load_search_config("akd_diswot", [f"--run_dir={tmp_path / 't'}", "--evaluator.table=/nowhere.txt"]),
                   progress=False)
    assert not (tmp_path / "t").exists()


def test_the_packaged_diswot_table_matches_the_shared_one_and_keeps_its_attribution():
    shared = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "diswot_s1"
    assert "DisWOT" in (DISWOT / "README.md").read_text()
    if shared.is_dir():
        for name in ("kd_accuracy.txt", "ce_accuracy.txt"):
            assert (DISWOT / name).read_text() == (shared / name).read_text()


def test_the_controller_entropy_is_stored_per_batch(tmp_path, teacher_dir):
    cfg = load_search_config(None, tiny_overrides(tmp_path / "e", teacher_dir, trials=4, batch=2))
    run_search(cfg, progress=False)
    stats = TrialStore(tmp_path / "e" / "trials.sqlite").batch_stats()
    assert sorted(stats) == [0, 1] and all(0 < s["entropy"] < 2 for s in stats.values())


def test_a_run_whose_config_predates_the_unions_still_resumes(tmp_path):
    """Configs saved before space/strategy/evaluator became unions held every variant's
    settings (and an absolute memory limit in memory_limit): they still load and resume."""
    from distillnas.config import SearchConfig, validate

    run = tmp_path / "old"
    cfg = load_search_config("akd_diswot", [f"--run_dir={run}", "--search.trials=8", "--strategy.name=evolution"])
    first = run_search(cfg, progress=False)
    saved = yaml.safe_load((run / "config.yaml").read_text())
    saved["space"].update(preset="tiny", blocks=None, backbone="resnet20", layers=None)  # the old flat space section
    saved["strategy"].update(ppo={"hidden": 64}, tpe={"startup": 8}, reinforce={"lr": 0.001})
    saved["evaluator"].update(proxy={"epochs": 5}, supernet={"memory_limit": 500000})
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    again = run_search(cfg, progress=False)
    assert again.evaluated == 0 and again.trials == first.trials == 8
    old = validate(SearchConfig, {**saved, "evaluator": {"name": "supernet", "supernet": {"memory_limit": 500000}}})
    assert old.evaluator.supernet.memory_limit_params == 500000 and old.evaluator.supernet.memory_limit == 2.0


def test_switching_a_component_by_override_drops_the_other_ones_settings(caplog):
    import logging

    logging.getLogger("distillnas").addHandler(caplog.handler)  # the CLI may have stopped it propagating
    cfg = load_search_config("kdas_mnist5k", ["--strategy.name=random", "--evaluator.name=proxy"])
    assert "evaluator.supernet ignored" in caplog.text  # kdas_mnist5k sets the supernet's own values
    caplog.clear()
    load_search_config(None, ["--space.name=addon", "--space.preset=cifar"])
    assert "space.preset ignored: it applies to another space than 'addon'" in caplog.text
    logging.getLogger("distillnas").removeHandler(caplog.handler)
    assert cfg.strategy.name == "random" and cfg.evaluator.name == "proxy"
    assert "reinforce" not in cfg.model_dump()["strategy"] and "supernet" not in cfg.model_dump()["evaluator"]
    with pytest.raises(DistillnasError, match="unknown config key 'strategy.ppo.lrr'"):
        load_search_config(None, ["--strategy.ppo.lrr=1"])


def test_a_relative_target_is_measured_once_recorded_and_kept_on_resume(tmp_path, teacher_dir):
    run = tmp_path / "rel"
    extra = ["--reward.reference=resnet8-w0.25", "--reward.target=2", "--search.report_every_s=0.001"]
    out = run_search(load_search_config(None, tiny_overrides(run, teacher_dir, trials=4, extra=extra)), progress=False)
    saved = yaml.safe_load((run / "config.yaml").read_text())
    cost = saved["reward"]["reference_cost"]
    assert cost > 0 and out.reward.limit == pytest.approx(2 * cost)
    assert all(a["meets_target"] == (a["latency_ms"] <= 2 * cost) for a in out.best)
    page = (run / "report" / "index.html").read_text()  # the live report, written after a batch
    assert "stored trials" in page and "target" in page
    saved["reward"]["reference_cost"] = 0.5  # as if measured on another machine: the run keeps its own
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    again = run_search(load_search_config(None, tiny_overrides(run, teacher_dir, trials=6, extra=extra)),
                       progress=False)
    assert again.reward.reference_cost == 0.5 and again.reward.limit == 1.0 and again.trials == 6


def test_a_table_search_with_a_parameter_target_relative_to_a_model(tmp_path):
    cfg = load_search_config("akd_diswot", [f"--run_dir={tmp_path / 'p'}", "--reward.reference=resnet20",
                                            "--reward.target=1.5", "--search.trials=16"])
    out = run_search(cfg, progress=False)
    from distillnas.cost import count_params
    from distillnas.models import build_model

    assert out.reward.reference_cost == count_params(build_model("resnet20", 100, 3, 32))
    assert out.best and all(a["params"] <= 1.5 * out.reward.reference_cost for a in out.best if a["meets_target"])


def test_non_finite_numbers_in_a_trial_are_stored_as_null(tmp_path):
    """Python's json writes NaN as a bare word that SQLite's json functions reject: every later
    count of paid trials would fail and the run could not resume."""
    store = TrialStore(tmp_path / "t.sqlite")
    store.add_batch(0, [(0,)])
    store.add_trial(0, 0, {"arch": "a", "tokens": [0], "status": "ok", "accuracy": 0.5,
                           "extra": {"latency_iqr_ms": float("nan"), "x": [float("inf"), 1.0]}})
    assert store.count_paid() == 1
    assert store.trials()[0]["extra"] == {"latency_iqr_ms": None, "x": [None, 1.0]}
    store.close()


_DISPATCHED: list[int] = []


@EXECUTORS.register("test-two-workers")
class _TwoWorkers(LocalExecutor):
    """A local executor that claims two workers and records the MACs of what it is given, in order."""

    def capacity(self) -> int:
        return 2

    def map(self, fn, items):
        for i, item in enumerate(items):
            result = fn(*item)
            _DISPATCHED.append(result.macs)
            yield i, result


def test_parallel_trials_are_dispatched_longest_first_and_stored_in_their_slots(tmp_path, teacher_dir):
    _DISPATCHED.clear()
    run = tmp_path / "lpt"
    cfg = load_search_config(None, tiny_overrides(run, teacher_dir, trials=6, batch=6,
                                                  extra=["--execution.executor=test-two-workers",
                                                         "--strategy.name=random"]))
    run_search(cfg, progress=False)
    assert len(_DISPATCHED) == 6 and _DISPATCHED == sorted(_DISPATCHED, reverse=True)
    assert len(set(_DISPATCHED)) > 1  # the batch had archs of different sizes to order
    stored = {t["slot"]: t for t in TrialStore(run / "trials.sqlite").trials()}
    assert sorted(stored) == list(range(6))
    # a one-worker run of the same batch evaluates the strategy's order, and stores the same archs per slot
    serial = tmp_path / "serial"
    run_search(load_search_config(None, tiny_overrides(serial, teacher_dir, trials=6, batch=6,
                                                       extra=["--strategy.name=random"])), progress=False)
    again = {t["slot"]: t for t in TrialStore(serial / "trials.sqlite").trials()}
    assert {s: t["arch"] for s, t in again.items()} == {s: t["arch"] for s, t in stored.items()}
    order = [t["macs"] for t in sorted(again.values(), key=lambda t: t["id"])]
    assert order == [again[s]["macs"] for s in range(6)]


def test_most_accurate_within_the_target_is_shown_beside_the_reward_ranking():
    from distillnas.reward import RewardConfig
    from distillnas.selection import most_accurate, select_best

    reward = RewardConfig(metric="macs", reference=None, target=10.0, mode="soft")
    trials = [{"id": i, "arch": a, "tokens": [i], "status": "ok", "accuracy": acc, "macs": m, "params": 1,
               "latency_ms": 1.0} for i, (a, acc, m) in enumerate([("cheap", 0.90, 1.0), ("accurate", 0.93, 9.5),
                                                                    ("over", 0.99, 30.0)])]
    assert select_best(trials, reward, 1)[0]["arch"] == "cheap"  # the soft reward's bonus for being far under
    assert [b["arch"] for b in most_accurate(trials, reward, 3)] == ["accurate", "cheap"]  # 'over' misses the target
