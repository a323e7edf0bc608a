"""`distillnas calibrate`: a finished search's students retrained, the proxy's ranking measured."""
import json
import shutil

import pytest

import distillnas.calibrate as cal
from distillnas.calibrate import _coverage_order, _spread, _verdict, calibrate_run
from distillnas.errors import DistillnasError
from distillnas.runconfig import load_search_config
from distillnas.search import run_search

from conftest import tiny_overrides
from test_cli import run as cli


@pytest.fixture(scope="module")
def finished(tmp_path_factory, teacher_dir):
    run_dir = tmp_path_factory.mktemp("cal") / "run"
    run_search(load_search_config(None, tiny_overrides(run_dir, teacher_dir, trials=6, batch=3)), progress=False)
    return run_dir


def test_calibration_retrains_a_spread_sample_and_resumes(finished, monkeypatch):
    c = calibrate_run(finished, archs=3, epochs=1, seeds=[0, 1])
    assert len(c.archs) == 3 and c.trained_now == 6 and len(c.per_seed[0]) == 2
    assert c.proxy_reward == sorted(c.proxy_reward, reverse=True)  # the proxy's best comes first
    assert -1 <= c.tau <= 1 and c.tau_interval[0] <= c.tau_interval[1] and c.noise_tau is not None
    assert 1 <= c.top1_rank <= 3 and "proxy ranks" in c.verdict
    saved = json.loads((finished / "calibrate" / "kd-e1" / "calibration.json").read_text())
    assert saved["archs"] == c.archs

    def no_training(*a, **kw):
        raise AssertionError("a finished retraining ran again")

    monkeypatch.setattr(cal, "train_student", no_training)
    again = calibrate_run(finished, archs=3, epochs=1, seeds=[0, 1])
    assert again.trained_now == 0 and again.final_accuracy == c.final_accuracy


def test_the_sample_spans_the_ranking():
    pool = [{"arch": str(i)} for i in range(10)]
    assert [t["arch"] for t in _spread(pool, 4)] == ["0", "3", "6", "9"]


def test_any_prefix_of_the_training_order_spans_the_ranking():
    for k in range(1, 40):
        order = _coverage_order(k)
        assert sorted(order) == list(range(k))
        for m in range(2, k + 1):  # no gap of a prefix is wider than three even spacings
            picked = sorted(order[:m])
            assert picked[0] == 0 and picked[-1] == k - 1
            assert max(b - a for a, b in zip(picked, picked[1:])) <= 3 * (k - 1) / (m - 1)
    assert _coverage_order(24)[:4] == [0, 23, 11, 5]


def test_a_stopped_calibration_is_measured_as_it_stands(finished, tmp_path, monkeypatch, capsys):
    full = calibrate_run(finished, archs=3, epochs=1, seeds=[0, 1])  # resumed, or trained
    run = tmp_path / "run"
    shutil.copytree(finished, run)

    def no_training(*a, **kw):
        raise AssertionError("--finished-only trained")

    monkeypatch.setattr(cal, "train_student", no_training)
    same = calibrate_run(run, archs=3, epochs=1, seeds=[0, 1], finished_only=True)
    assert same.final_accuracy == full.final_accuracy and same.trained_now == 0 and same.notes == []
    code, text, _ = cli(capsys, "calibrate", str(run), "--archs", "3", "--epochs", "1", "--seeds", "0,1",
                        "--finished-only")
    assert code == 0 and "0 retraining(s) now" in text and "verdict:" in text
    sorted((run / "calibrate" / "kd-e1").glob("*-seed1.json"))[0].unlink()
    with pytest.raises(DistillnasError, match="2 of 3 students have finished"):
        calibrate_run(run, archs=3, epochs=1, seeds=[0, 1], finished_only=True)


def test_verdicts():
    assert _verdict(0.6, (0.2, 0.9), 0.8).startswith("the proxy ranks like the final training")
    assert "no better than chance" in _verdict(0.1, (-0.3, 0.5), None)


def test_bad_requests_are_refused_before_training(finished, tmp_path, capsys):
    with pytest.raises(DistillnasError, match="--archs 2"):
        calibrate_run(finished, archs=2)
    with pytest.raises(DistillnasError):
        calibrate_run(tmp_path / "nothing")
    code, _, err = cli(capsys, "calibrate", str(tmp_path / "nothing"))
    assert code == 2 and err.count("\n") == 1


def test_the_report_shows_the_calibration(finished):
    from distillnas.analysis import build_report

    calibrate_run(finished, archs=3, epochs=1, seeds=[0, 1])  # resumed from the first test's results, or trained
    page = build_report([finished]).read_text()
    assert "Can the proxy be trusted? (kd-e1" in page and "Kendall tau" in page
    assert list((finished / "report").glob("*_calibrate_kd-e1.png"))


def test_a_ladder_run_is_calibrated_rung_by_rung(tmp_path, teacher_dir, capsys):
    """A multi-fidelity run (eta 1: every student at every rung) is ranked by each student's top
    rung, and each rung's own tau against the retraining is reported: which rung ranks."""
    run = tmp_path / "ladder"
    ladder = ["--evaluator.proxy.fidelity.epochs=[1, 2]", "--evaluator.proxy.fidelity.eta=1",
              "--evaluator.proxy.epochs=2", "--cost.latency=none", "--reward.reference=null"]
    run_search(load_search_config(None, tiny_overrides(run, teacher_dir, trials=4, batch=4, extra=ladder)),
               progress=False)
    c = calibrate_run(run, archs=3, epochs=0.5, seeds=[0])
    assert [r["fidelity"] for r in c.ladder] == [1.0, 2.0] and all(r["archs"] == 3 for r in c.ladder)
    top = c.ladder[-1]
    # the top rung is what the proxy ranking used: its tau is the headline tau
    assert top["tau"] == pytest.approx(c.tau) and top["tau_interval"] == pytest.approx(c.tau_interval)
    from distillnas.store import TrialStore
    stored = {(t["arch"], t["extra"]["fidelity"]): t["accuracy"] for t in TrialStore(run / "trials.sqlite", readonly=True).trials()}
    assert c.proxy_accuracy == [stored[(a, 2.0)] for a in c.archs]
    code, text, _ = cli(capsys, "calibrate", str(run), "--archs", "3", "--epochs", "0.5", "--seeds", "0")
    assert code == 0 and "rung 1 epochs: Kendall tau" in text and "rung 2 epochs" in text
    from distillnas.analysis import build_report
    assert "rung (epochs)" in build_report([run]).read_text()


def test_a_subset_run_is_scored_on_the_holdout_and_old_marks_are_retrained(tmp_path, teacher_dir, monkeypatch):
    """With data.train_subset the retrained students are scored on the images the subset left out
    (not on the small mini-val); a result kept before the holdout existed is trained again."""
    run = tmp_path / "sub"
    run_search(load_search_config(None, tiny_overrides(run, teacher_dir, trials=3, batch=3,
                                                       extra=["--data.train_subset=240"])), progress=False)
    c = calibrate_run(run, archs=3, epochs=0.5, seeds=[0])
    assert c.split == "holdout" and c.trained_now == 3
    marks = sorted((run / "calibrate" / "kd-e0.5").glob("*-seed0.json"))
    docs = [json.loads(m.read_text()) for m in marks]
    assert len(marks) == 3 and all(0 <= d["holdout"] <= 1 and 0 <= d["accuracy"] <= 1 for d in docs)
    assert sorted(c.final_accuracy) == sorted(d["holdout"] for d in docs)
    old = {k: v for k, v in docs[0].items() if k != "holdout"}
    marks[0].write_text(json.dumps(old))
    trained = []
    real = cal.train_student
    monkeypatch.setattr(cal, "train_student", lambda *a, **kw: trained.append(kw["eval_splits"]) or real(*a, **kw))
    again = calibrate_run(run, archs=3, epochs=0.5, seeds=[0])
    assert trained == [("minival", "holdout")] and again.trained_now == 1
