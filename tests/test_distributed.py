"""Data-parallel `distillnas train` under torchrun: 2 CPU processes (gloo) train the model one
process trains on the same global batch, up to float summation order."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from distillnas.checkpoint import load_student

ARGS = ["train", "--arch", "resnet8-w0.25", "--dataset", "synthetic", "--epochs", "1", "--no-progress",
        "--optim.batch_size=32", "--optim.lr=0.1", "--channels-last=off", "--seeds", "0"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=full)


@pytest.mark.parametrize("loss", ["ce", "kd"])
def test_two_processes_train_what_one_process_trains(tmp_path, teacher_dir, loss):
    # CE with fresh random crops; KD with the teacher's cached views (the cache filled by both ranks)
    args = [*ARGS, "--loss", loss] + (["--augment=random"] if loss == "ce" else
                                      ["--augment=views", "--teacher", str(teacher_dir)])
    one = _run([sys.executable, "-m", "distillnas", *args, "--out", str(tmp_path / "one")])
    assert one.returncode == 0, one.stderr[-2000:]
    two = _run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                str(_free_port()), "-m", "distillnas", *args, "--out", str(tmp_path / "two")])
    assert two.returncode == 0, two.stderr[-3000:]
    (a,), (b,) = (list((tmp_path / d).glob("*.pt")) for d in ("one", "two"))  # rank 0 alone wrote
    ma, _ = load_student(a)
    mb, _ = load_student(b)
    diffs = {k: (x.float() - y.float()).abs().max().item()
             for (k, x), y in zip(ma.state_dict().items(), mb.state_dict().values())}
    assert max(diffs.values()) < 2e-3, sorted(diffs.items(), key=lambda kv: -kv[1])[:3]
    assert two.stdout.count("checkpoints and results.json") == 1  # one rank reports
    if loss == "kd":  # each rank ran the teacher on its half of the split, then read both halves
        parts = sorted(p.name for p in (tmp_path / "two" / "teacher_cache").glob("*/part*"))
        assert parts == ["part0of2", "part1of2"], parts


def test_a_scheme_that_passes_checkpoints_is_refused_under_torchrun(tmp_path):
    res = _run([sys.executable, "-m", "distillnas", *ARGS, "--loss", "kd", "--scheme", "rco", "--route",
                str(tmp_path), "--out", str(tmp_path / "o")], WORLD_SIZE="2", RANK="0", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(_free_port()))
    assert res.returncode == 2 and "not data-parallel" in res.stderr + res.stdout
    assert not (tmp_path / "o").exists()  # refused before anything was written
