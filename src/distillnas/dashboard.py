"""A run in Optuna Dashboard: the run's trials mirrored into an Optuna storage, then served.

Users of Optuna know its dashboard (history, Pareto front, parallel coordinates, parameter
importance); `distillnas dashboard RUN` shows a distillnas run there, finished or running.

The mirror is *derived*: `RUN/dashboard/optuna.sqlite3` is written from `trials.sqlite` (never
the other way round), one Optuna trial per stored trial, in the store's order:

- the arch's decisions are categorical params (`b0.op = mb6`, ...), with the space's choices
  as their distribution, so parameter importance and parallel coordinates work;
- a single-objective run is a one-objective study maximising the reward the strategy was
  told; a two-objective run (`nsga2`) is a two-objective study, accuracy (%) up and the
  reward's cost metric down, so the dashboard draws its Pareto front;
- accuracy, reward, params, MACs, latency, wall time, batch, slot, fidelity and distillnas's
  status are user attributes;
- a trial that finished at the top fidelity (or in a run without multi-fidelity) is COMPLETE;
  one that stopped at a lower rung is PRUNED with its accuracy as the intermediate value at
  its epochs, so an early-stopped trial never enters the dashboard's Pareto front as if
  complete; a failed or diverged one is FAIL; one a zero-cost screen turned away is PRUNED.

The mirror is incremental (the store is append-only: trials after the last mirrored id are
added) and is rebuilt from scratch when it is missing, unreadable or made for another run.
While the dashboard serves, a thread mirrors new trials every few seconds, so a running
search shows up as it goes.
"""
from __future__ import annotations

import logging
import shutil
import socket
import threading
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import DistillnasError
from .reward import trial_objectives, trial_reward
from .rundir import RunDir
from .spaces import SearchSpace, space_from_config

log = logging.getLogger("distillnas")
LAST_ID = "distillnas_last_id"  # study user attr: the last stored trial id mirrored
RUN_KEY = "distillnas_run"  # study user attr: which run (its resolved path) the mirror is of
INSTALL = "pip install 'distillnas[dashboard]'"


@dataclass(frozen=True)
class Mirror:
    """What `mirror_run` wrote: where the Optuna storage is, the study's name, how many trials
    it holds and how many this call added."""

    storage: str  # an SQLAlchemy URL (sqlite:///...)
    study: str
    objectives: int
    trials: int
    added: int


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as e:
        raise DistillnasError(f"the dashboard needs Optuna and Optuna Dashboard; install them with {INSTALL}") from e
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def storage_path(run: RunDir) -> Path:
    """The derived Optuna storage of a run."""
    return run.path / "dashboard" / "optuna.sqlite3"


def _distributions(space: SearchSpace) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution

    return {d.name: CategoricalDistribution(list(d.choices)) for d in space.decisions}


def _attrs(row: dict[str, Any], reward: float, top: float | None) -> dict[str, Any]:
    extra = row.get("extra") or {}
    keep = {k: row.get(k) for k in ("arch", "batch", "slot", "params", "macs", "latency_ms", "wall_s")}
    keep.update(distillnas_id=row["id"], status=row["status"], reward=reward,
                accuracy=None if row.get("accuracy") is None else 100 * float(row["accuracy"]),
                fidelity=extra.get("fidelity"), top_fidelity=top)
    if row.get("error"):
        keep["error"] = str(row["error"])[:500]
    if extra.get("reused_from") is not None:
        keep["reused_from"] = extra["reused_from"]
    return {k: v for k, v in keep.items() if v is not None}


def frozen_trial(row: dict[str, Any], space: SearchSpace, cfg: Any, objectives: int, top: float | None) -> Any:
    """One stored trial as an Optuna trial (see the module docstring for the mapping)."""
    optuna = _optuna()
    State = optuna.trial.TrialState
    fidelity = (row.get("extra") or {}).get("fidelity")
    reward = trial_reward(row, cfg.reward)
    values: list[float] | None = None
    intermediate: dict[int, float] = {}
    if row["status"] == "screened":
        state = State.PRUNED
    elif row["status"] != "ok" or row.get("accuracy") is None:
        state = State.FAIL
    elif fidelity is not None and top is not None and float(fidelity) < top:
        state = State.PRUNED  # stopped at a lower rung (or promoted: its next rung is its own trial)
        intermediate = {int(round(float(fidelity))): 100 * float(row["accuracy"])}
    else:
        state = State.COMPLETE
        acc, cost = trial_objectives(row, cfg.reward)
        values = [100 * acc, cost] if objectives == 2 else [reward]
        if fidelity is not None:
            intermediate = {int(round(float(fidelity))): 100 * float(row["accuracy"])}
    trial = optuna.trial.create_trial(
        state=state, values=values, params=space.values(tuple(row["tokens"])), distributions=_distributions(space),
        user_attrs=_attrs(row, reward, top), intermediate_values=intermediate)
    end = float(row.get("created") or time.time())
    return _with_times(trial, datetime.fromtimestamp(end - float(row.get("wall_s") or 0.0)), datetime.fromtimestamp(end))


def _with_times(trial: Any, start: datetime, end: datetime) -> Any:
    """The trial with the stored run's times (the history plot's x axis is wall time)."""
    trial.datetime_start = start
    if trial.state.is_finished():
        trial.datetime_complete = end
    return trial


def _open_study(optuna: Any, url: str, name: str, run_key: str, objectives: int, metric: str) -> Any:
    """The run's study in the mirror, created when missing."""
    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 30}})
    directions = ["maximize", "minimize"] if objectives == 2 else ["maximize"]
    study = optuna.create_study(storage=storage, study_name=name, directions=directions, load_if_exists=True)
    if study.user_attrs.get(RUN_KEY) is None:
        with warnings.catch_warnings():  # experimental since Optuna 3.2, still what names the axes
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(["accuracy (%)", metric] if objectives == 2 else ["reward"])
        study.set_user_attr(RUN_KEY, run_key)
    return study


def _stale(optuna: Any, path: Path, name: str, run_key: str) -> bool:
    """Whether an existing mirror must be rebuilt: unreadable, or made for another run."""
    try:
        summaries = {s.study_name: s for s in optuna.get_all_study_summaries(f"sqlite:///{path}")}
        return name not in summaries or summaries[name].user_attrs.get(RUN_KEY) != run_key
    except Exception as e:  # a broken or foreign file: it is derived, so build it again
        log.warning("dashboard mirror %s is unreadable (%s): building it again", path, str(e).splitlines()[0][:200])
        return True


def mirror_run(run_dir: str | Path) -> Mirror:
    """Mirror a run's stored trials into its Optuna storage (`RUN/dashboard/optuna.sqlite3`),
    adding the trials stored since the last call.

    Args:
        run_dir: a search run (finished or running).

    Returns:
        Where the storage is, the study's name, and trial counts.

    Raises:
        DistillnasError: the directory is not a run, or Optuna is not installed.
    """
    optuna = _optuna()
    run = RunDir(run_dir)
    run.check_is_run()
    cfg = run.load_config()
    space = space_from_config(cfg.space)
    objectives = cfg.strategy.objectives
    top = cfg.evaluator.top_fidelity()
    path, name, run_key = storage_path(run), run.path.resolve().name, str(run.path.resolve())
    if path.exists() and _stale(optuna, path, name, run_key):
        shutil.rmtree(path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{path}"
    study = _open_study(optuna, url, name, run_key, objectives, cfg.reward.metric)
    last = int(study.user_attrs.get(LAST_ID, 0))
    store = run.store(readonly=True)
    try:
        rows = store.trials_after(last)
    finally:
        store.close()
    if rows:
        study.add_trials([frozen_trial(r, space, cfg, objectives, top) for r in rows])
        study.set_user_attr(LAST_ID, int(rows[-1]["id"]))
    total = len(study.get_trials(deepcopy=False))
    return Mirror(url, name, objectives, total, len(rows))


def _keep_mirroring(run_dir: Path, every_s: float, stop: threading.Event) -> None:
    while not stop.wait(every_s):
        try:
            m = mirror_run(run_dir)
            if m.added:
                log.info("dashboard: %d new trial(s) mirrored (%d in all)", m.added, m.trials)
        except Exception as e:  # a transient lock or a half-written row: try again next time
            log.warning("dashboard: mirroring failed (%s); trying again in %.0f s", str(e).splitlines()[0][:200],
                        every_s)


def serve_dashboard(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8080, every_s: float = 5.0) -> None:
    """Mirror a run, then serve it in Optuna Dashboard at http://host:port/dashboard/ until
    interrupted, mirroring new trials every `every_s` seconds.

    Raises:
        DistillnasError: Optuna Dashboard is not installed, the run is not a run, or the port is taken.
    """
    try:
        from optuna_dashboard import run_server
    except ImportError as e:
        raise DistillnasError(f"the dashboard needs Optuna Dashboard; install it with {INSTALL}") from e
    check_port(host, port)
    m = mirror_run(run_dir)
    log.info("dashboard: %s mirrored (%d trials) into %s", m.study, m.trials, m.storage)
    stop = threading.Event()
    thread = threading.Thread(target=_keep_mirroring, args=(Path(run_dir), every_s, stop), daemon=True)
    thread.start()
    try:
        run_server(m.storage, host=host, port=port)
    finally:
        stop.set()


def check_port(host: str, port: int) -> None:
    """Refuse a port this process cannot listen on, before any work, in one line."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise DistillnasError(f"--port {port}: cannot listen on {host}:{port} ({e.strerror}); "
                                  "choose another port") from e
