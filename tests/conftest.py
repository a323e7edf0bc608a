from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import torch

from distillnas.config import DataConfig, TrainConfig, validate
from distillnas.data import load_dataset, make_splits

# CI's two cores; OMP_NUM_THREADS wins where set (on a busy machine two spinning OpenMP threads
# ran a controller's update ~100x slower than one)
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
# `precision: auto` trains in fp32 in every test, whatever this CPU's bf16 calibration says
# (subprocesses inherit it); tests/test_precision.py covers bf16 and the calibration itself
os.environ["DISTILLNAS_CPU_BF16"] = "0"


@pytest.fixture(scope="session")
def synth():
    ds = load_dataset("synthetic")
    return ds, make_splits(ds, 0.1, 0.2, seed=0)


def quick_cfg(**kw) -> TrainConfig:
    """A training config small enough for unit tests (a few hundred images, a few epochs)."""
    base = {"optim": {"epochs": 3, "batch_size": 32, "lr": 0.2, "warmup_epochs": 0.5}, "loss": {"name": "ce"},
            "device": "cpu"}
    for k, v in kw.items():
        if isinstance(v, dict):
            base.setdefault(k, {}).update(v)
        else:
            base[k] = v
    return validate(TrainConfig, base)


@pytest.fixture(scope="session")
def teacher_dir(tmp_path_factory):
    """Three tiny ResNet teachers trained on the synthetic data (a real ensemble)."""
    from distillnas.training import train_teachers

    out = tmp_path_factory.mktemp("teachers")
    train_teachers("resnet8-w0.25", [0, 1, 2], DataConfig(name="synthetic"), quick_cfg(augment="random"), out)
    return out


def tiny_overrides(run_dir, teacher_dir, trials=4, batch=2, extra=()):
    """A real proxy search, shrunk: 2-block space, synthetic data, a fraction of an epoch."""
    return [f"--run_dir={run_dir}", "--data.name=synthetic", f"--teacher.spec=[{teacher_dir}]",
            "--space.blocks=2", "--evaluator.proxy.epochs=1", "--evaluator.proxy.batch_size=64",
            "--evaluator.proxy.warmup_epochs=0.2", "--cost.repeats=2", "--cost.warmup=1",
            f"--search.trials={trials}", f"--search.batch_size={batch}", "--search.top_k=2",
            "--reward.target=5.0", "--final.optim.epochs=1", "--final.seeds=[0]", *extra]


def rows(run_dir):
    """(batch, slot, arch, status, id, created) of every stored trial, in insertion order."""
    with sqlite3.connect(Path(run_dir) / "trials.sqlite") as db:
        return db.execute("SELECT batch, slot, arch, status, id, created FROM trials ORDER BY id").fetchall()
