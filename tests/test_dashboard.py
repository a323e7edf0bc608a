"""`distillnas dashboard`: a run mirrored into an Optuna storage (derived from trials.sqlite,
incremental, rebuilt when stale), early-stopped trials never complete, and the real Optuna
Dashboard serving it to headless Chromium."""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from distillnas.cli import main
from distillnas.runconfig import load_search_config
from distillnas.search import run_search
from distillnas.store import TrialStore

optuna = pytest.importorskip("optuna")
TABLE = ["--strategy.name=nsga2", "--strategy.nsga2.population=6", "--search.batch_size=6"]


def table_run(path, trials: int, extra: list[str] = TABLE):
    cfg = load_search_config("akd_diswot", [f"--run_dir={path}", f"--search.trials={trials}", *extra])
    run_search(cfg, progress=False)
    return cfg


def test_a_two_objective_run_is_a_two_objective_study_with_params_values_and_attributes(tmp_path):
    from distillnas.dashboard import mirror_run

    run = tmp_path / "mo"
    cfg = table_run(run, 12)
    m = mirror_run(run)
    stored = TrialStore(run / "trials.sqlite", readonly=True).trials()  # 12 paid, and the repeats told for free
    assert (m.study, m.objectives, m.trials, m.added) == ("mo", 2, len(stored), len(stored)) and len(stored) >= 12
    study = optuna.load_study(study_name="mo", storage=m.storage)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["accuracy (%)", cfg.reward.metric]
    for t, row in zip(study.trials, stored):
        assert t.user_attrs["arch"] == row["arch"] and t.user_attrs["distillnas_id"] == row["id"]
        assert t.values == pytest.approx([100 * row["accuracy"], row[cfg.reward.metric]])
        assert set(t.params) == {f"stage{i}.depth" for i in range(3)} and t.state.name == "COMPLETE"
        assert t.user_attrs["status"] == "ok" and t.datetime_complete >= t.datetime_start
    # the dashboard's Pareto front is the run's front: no other trial beats a front trial on both
    front = {t.number for t in study.best_trials}
    assert front and all(not any(o.values[0] >= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values
                                 for o in study.trials) for t in study.trials if t.number in front)


def test_the_mirror_adds_only_new_trials_and_rebuilds_a_broken_or_foreign_one(tmp_path):
    from distillnas.dashboard import mirror_run, storage_path
    from distillnas.rundir import RunDir

    run = tmp_path / "one"
    table_run(run, 6, ["--strategy.name=random", "--search.batch_size=6"])
    first = mirror_run(run)
    assert (first.objectives, first.trials, first.added) == (1, 6, 6)
    table_run(run, 12, ["--strategy.name=random", "--search.batch_size=6"])  # the search goes on
    again = mirror_run(run)
    assert (again.trials, again.added) == (12, 6)
    study = optuna.load_study(study_name="one", storage=again.storage)
    assert [t.user_attrs["distillnas_id"] for t in study.trials] == list(range(1, 13))
    assert mirror_run(run).added == 0
    path = storage_path(RunDir(run))
    path.write_bytes(b"not a database" * 100)  # derived: a broken mirror is built again
    assert mirror_run(run).trials == 12
    moved = tmp_path / "moved"  # a copied run: the mirror was made for another path
    shutil.copytree(run, moved)
    rebuilt = mirror_run(moved)
    assert (rebuilt.study, rebuilt.added) == ("moved", 12)


def test_a_taken_port_is_one_line_and_exit_2_before_any_work(tmp_path, capsys):
    run = tmp_path / "p"
    table_run(run, 6, ["--strategy.name=random", "--search.batch_size=6"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(SystemExit) as e:
            main(["dashboard", str(run), "--port", str(port)])
    assert e.value.code == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "serving" not in captured.out
    assert f"--port {port}" in err and "choose another port" in err and len(err.splitlines()) == 1
    assert not (run / "dashboard").exists()


CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def page_text(url: str) -> str:
    """What headless Chromium shows of a page once its scripts have run: the DOM, as text."""
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000",
                          "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    dom = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)")
def test_optuna_dashboard_serves_the_run_to_chromium(tmp_path):
    pytest.importorskip("optuna_dashboard")
    run = tmp_path / "served"
    table_run(run, 12)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "distillnas", "dashboard", str(run), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(240):  # the first mirror, then the server: a few seconds
            try:
                urllib.request.urlopen(f"{base}/api/studies", timeout=2).read()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.25)
        listing = page_text(f"{base}/dashboard/studies/1/trials")
        count = len(TrialStore(run / "trials.sqlite", readonly=True).trials())
        assert "served" in listing and f"{count} Trials" in listing, listing[:2000]
        overview = page_text(f"{base}/dashboard/studies/1")
        assert "Pareto Front" in overview and "accuracy (%)" in overview, overview[:2000]
        shot = tmp_path / "dashboard.png"
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--virtual-time-budget=15000", "--window-size=1400,1800", f"--screenshot={shot}",
                        f"{base}/dashboard/studies/1"], capture_output=True, timeout=120)
        assert shot.is_file() and shot.stat().st_size > 20_000  # charts drawn, not a blank page
    finally:
        server.terminate()
        server.wait(timeout=30)
