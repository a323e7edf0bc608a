"""A search across a multi-node Ray cluster (three raylets on this machine) that loses a node mid-batch."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from distillnas.runconfig import load_search_config
from distillnas.search import run_search
from distillnas.store import TrialStore

from conftest import rows, tiny_overrides


def _kill_when_busy(cluster, node, run_dir, ray, log: dict) -> None:  # noqa: ANN001
    """Remove `node` once a trial is stored and every CPU of the cluster runs a trial: so a
    trial is running on the node when it dies."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:  # read-only: never creates the store before the search does
            with sqlite3.connect(f"file:{run_dir / 'trials.sqlite'}?mode=ro", uri=True) as db:
                stored = db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
        except sqlite3.Error:  # the store is not there yet, or its tables are being made
            stored = 0
        if stored >= 1 and ray.available_resources().get("CPU", 0) == 0:
            cluster.remove_node(node)
            log.update(stored_at_kill=stored, at=time.monotonic())
            return
        time.sleep(0.05)


def test_a_search_across_nodes_survives_losing_one(tmp_path, teacher_dir):
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    run_dir, log = tmp_path / "cluster", {}
    try:
        cfg = load_search_config(None, tiny_overrides(run_dir, teacher_dir, trials=6, batch=3,
                                                      extra=["--execution.executor=ray", "--execution.retries=3"]))
        killer = threading.Thread(target=_kill_when_busy, args=(cluster, workers[1], run_dir, ray, log))
        log["start"] = time.monotonic()
        killer.start()
        out = run_search(cfg, progress=False)
        killer.join()
        stored = rows(run_dir)
        print(f"node killed {log.get('at', 0) - log.get('start', 0):.1f} s into the search with "
              f"{log.get('stored_at_kill')} of 6 trials stored; {len(stored)} stored at the end")
        assert "stored_at_kill" in log and log["stored_at_kill"] < 6  # the node died mid-search, trials running
        assert out.trials == 6 and len(stored) == 6  # every trial stored, none twice
        assert sorted((b, s) for b, s, *_ in stored) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
        assert all(r[3] == "ok" for r in stored), TrialStore(run_dir / "trials.sqlite").trials()
        assert len(ray.nodes()) == 3 and sum(n["Alive"] for n in ray.nodes()) == 2
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_trials_share_a_gpu_by_fractions(tmp_path, teacher_dir):
    """Ray schedules trials by the GPU fraction they ask for (the machine has no GPU: Ray is told
    of one, and a trial without CUDA trains on the CPU)."""
    ray = pytest.importorskip("ray")
    from distillnas.execution import build_executor

    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    try:
        cfg = load_search_config(None, tiny_overrides(tmp_path / "gpu", teacher_dir, trials=4, extra=[
            "--execution.executor=ray", "--execution.cpus_per_trial=0.5", "--execution.gpus_per_trial=0.25"]))
        executor = build_executor(cfg.execution)
        assert executor.capacity() == 4  # four quarter-GPU trials on the one GPU (and 2 CPUs / 0.5)
        half = build_executor(cfg.execution.model_copy(update={"gpus_per_trial": 0.5}))
        assert half.capacity() == 2
        out = run_search(cfg, progress=False)
        assert out.trials == 4 and all(r[3] == "ok" for r in rows(tmp_path / "gpu"))
    finally:
        ray.shutdown()
