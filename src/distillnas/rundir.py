"""A run directory and every file in it, in one place.

    config.yaml       the resolved config (every default written out)
    trials.sqlite     the run store (trials, batches, final trainings)
    strategy.pt       the strategy's state after each ask / tell
    supernet.pt       the KDAS supernet's shared weights (weight sharing only)
    teacher/          the teacher ensemble trained when none is given
    teacher_cache/    cached teacher outputs per split
    latency.json      measured latency by arch string
    best.yaml         the archs the search hands on
    report/           the HTML report
    students/         retrained students (train --from-run)

`open` creates or resumes a run for a config (refusing another config's directory unless
it holds nothing to lose); `load` reads a finished one.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import yaml

from .checkpoint import checkpoint_name
from .config import SearchConfig, validate
from .errors import DistillnasError
from .io import atomic_torch_save, atomic_write_text, ensure_dir, read_yaml_file, safe_torch_load
from .models import canonical_arch
from .runconfig import adopt_legacy, config_differences, read_recorded
from .store import TrialStore
from .strategies import Strategy

log = logging.getLogger("distillnas")


class RunDir:
    """A search's run directory: config, trial store, strategy state, teacher, cache, report, students."""

    CONFIG, STORE, STRATEGY, SUPERNET, BEST = "config.yaml", "trials.sqlite", "strategy.pt", "supernet.pt", "best.yaml"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config, self.store_path, self.strategy_path, self.supernet_path, self.best_path = (
            self.path / name for name in (self.CONFIG, self.STORE, self.STRATEGY, self.SUPERNET, self.BEST))
        self.teacher_dir, self.teacher_cache, self.latency, self.report, self.students = (
            self.path / name for name in ("teacher", "teacher_cache", "latency.json", "report", "students"))

    @classmethod
    def of(cls, cfg: SearchConfig) -> "RunDir":
        """The run directory a config names (run_dir, or runs/<name>)."""
        return cls(cfg.run_dir or f"runs/{cfg.name}")

    def __str__(self) -> str:
        return str(self.path)

    def writable(self) -> bool:
        """Whether this process may write here (a finished run may be read-only)."""
        return not self.path.is_dir() or os.access(self.path, os.W_OK)

    def store(self, readonly: bool = False) -> TrialStore:
        """The run's trial store (SQLite), read-only when asked."""
        return TrialStore(self.store_path, readonly=readonly)

    # --- the teacher ensemble trained into the run ----------------------------------------
    def member(self, arch: str, seed: int) -> Path:
        """The checkpoint of the ensemble member of `seed` (trained with CE into teacher/)."""
        return self.teacher_dir / checkpoint_name(canonical_arch(arch), "ce", seed)

    def teacher_members(self, cfg: SearchConfig) -> list[str]:
        """The given teacher specs, or the checkpoints of the ensemble trained into the run."""
        if cfg.teacher.spec:
            return list(cfg.teacher.spec)
        return [str(p) for s in cfg.teacher.seeds if (p := self.member(cfg.teacher.arch, s)).is_file()]

    # --- open / resume --------------------------------------------------------------------
    def open(self, cfg: SearchConfig) -> SearchConfig:
        """Create the run directory, or check that an existing one was made by this config;
        returns the config to run with (`cfg`, or for a run recorded before a setting's default
        changed, `cfg` with that setting as the run started: `runconfig.adopt_legacy`).

        A run whose config changed before any trial succeeded holds nothing to lose (say, a
        first attempt with a wrong teacher path, whose trials all failed): it starts over with
        the new config instead of being refused forever; its old store is kept beside it."""
        ensure_dir(self.path, "run directory")
        saved, legacy = self._recorded()
        if legacy and self.successful_trials() > 0:  # a run to resume, recorded before some settings existed
            cfg, adopted = adopt_legacy(legacy, cfg)
            if adopted:
                log.info("run directory %s was recorded before %s existed: resuming as it ran, with %s", self,
                         ", ".join(a.split("=")[0] for a in adopted), ", ".join(adopted))
        resolved = cfg.model_dump()
        if saved is not None:
            diff = config_differences(saved, cfg)
            if diff and self.successful_trials() > 0:
                shown = ", ".join(diff[:5]) + (" ..." if len(diff) > 5 else "")
                raise DistillnasError(f"run directory {str(self)!r} was made by a different config (differs in: "
                                      f"{shown}); refusing to resume. Use another --run-dir, or delete it to start "
                                      "fresh")
            if diff:
                kept = self.set_aside()
                log.warning("run directory %s has no successful trial and its config changed (%s): starting it over "
                            "with the new config%s", self, ", ".join(diff[:5]),
                            f"; old store kept as {kept}" if kept else "")
        elif self.store_path.exists():
            raise DistillnasError(f"run directory {str(self)!r} has trials but no {self.CONFIG}; "
                                  "use another --run-dir, or delete it to start fresh")
        if saved != resolved:  # new, resumable keys changed, or started over: write what runs now
            atomic_write_text(self.config, yaml.safe_dump(resolved, sort_keys=False))
        return cfg

    def saved_config(self) -> dict[str, Any] | None:
        """The saved config as the current version reads it (older layouts normalised, settings
        added since read as the recording code behaved: `runconfig.read_recorded`), or None."""
        return self._recorded()[0]

    def _recorded(self) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        if not self.config.is_file():
            return None, {}
        raw = read_yaml_file(self.config, "saved config")
        try:
            return read_recorded(raw)
        except DistillnasError as e:
            raise DistillnasError(f"{str(self.config)!r} was written by a distillnas this version cannot read ({e}); "
                                  "use another --run-dir, or delete it to start fresh") from None

    def successful_trials(self) -> int:
        """The stored trials that finished ok."""
        if not self.store_path.is_file():
            return 0
        store = self.store()
        try:
            return store.count("ok")
        finally:
            store.close()

    def set_aside(self) -> str:
        """Rename the store (closed, so its WAL is merged) and drop the controller state of a run
        that starts over; the name the old store was kept under, or '' when there was none."""
        for path in (self.strategy_path, self.supernet_path):
            path.unlink(missing_ok=True)
        if not self.store_path.is_file():
            return ""
        kept = self.path / f"trials-replaced-{time.strftime('%Y%m%d-%H%M%S')}.sqlite"
        os.replace(self.store_path, kept)
        for suffix in ("-wal", "-shm"):
            Path(str(self.store_path) + suffix).unlink(missing_ok=True)
        return kept.name

    # --- strategy state -------------------------------------------------------------------
    def save_strategy(self, strategy: Strategy, batch: int, phase: str) -> None:
        """Save the strategy's state at batch `batch` (phase: asked, trained or told), atomically."""
        atomic_torch_save(self.strategy_path, {"state": strategy.state_dict(), "batch": batch, "phase": phase})

    def load_strategy(self, strategy: Strategy, store: TrialStore) -> tuple[int, str] | None:
        """Restore the controller; (batch, phase) it was saved at, or None for a fresh one.

        The controller must not have seen more than the store holds: a store emptied or
        replaced under a trained controller would silently pair its state with other trials."""
        path = self.strategy_path
        if not path.is_file():
            return None
        saved = safe_torch_load(path, "controller state", "delete it to restart the controller from scratch")
        batch, phase = int(saved["batch"]), str(saved["phase"])
        needed = batch if phase in ("asked", "told") else batch - 1  # 'trained' is saved before batch b is asked
        if store.last_batch() < needed:
            raise DistillnasError(f"{str(path)!r} has seen {batch + (phase != 'trained')} batches but "
                                  f"{str(store.path)!r} holds {store.last_batch() + 1}: the store was emptied or "
                                  f"replaced. Restore it, or delete {path.name} (and {self.SUPERNET}) to restart the "
                                  "controller on the stored trials")
        try:
            strategy.load_state_dict(saved["state"])
        except (KeyError, RuntimeError, TypeError, ValueError) as e:
            raise DistillnasError(f"{str(path)!r} was written by another version of strategy "
                                  f"{type(strategy).__name__} ({type(e).__name__}); delete it to restart the "
                                  "controller on the stored trials") from None
        return batch, phase

    # --- results --------------------------------------------------------------------------
    def write_best(self, doc: dict[str, Any]) -> Path:
        """Write best.yaml (the archs a search hands on), atomically."""
        return atomic_write_text(self.best_path, yaml.safe_dump(doc, sort_keys=False))

    def read_best(self) -> dict[str, Any]:
        """best.yaml as a dict ({} before the search has finished)."""
        return (read_yaml_file(self.best_path, "best archs") or {}) if self.best_path.is_file() else {}

    def check_is_run(self) -> None:
        """Refuse a folder that is not a search run, in one line."""
        if not self.config.is_file() or not self.store_path.is_file():
            raise DistillnasError(f"{str(self)!r} is not a run directory (it needs {self.CONFIG} and {self.STORE})")

    def load_config(self) -> SearchConfig:
        """The run's config.yaml, validated (settings added since read as the run ran)."""
        return validate(SearchConfig, read_recorded(read_yaml_file(self.config, "saved config"))[0])

    def load(self) -> tuple[SearchConfig, dict[str, Any]]:
        """(config, best.yaml) of a finished search; clear errors for anything else."""
        self.check_is_run()
        cfg = self.load_config()
        best = self.read_best()
        if not best.get("archs"):
            raise DistillnasError(f"run {str(self)!r} has no finished successful trials yet (no archs in {self.BEST}); "
                                  "run or resume the search first")
        return cfg, best
