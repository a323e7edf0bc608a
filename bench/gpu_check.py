"""The CUDA paths end to end, in one script for a lent GPU machine (issue 40 item 7; CI never needs it).

Each check runs the real command path and reports ok / failed with its wall time and what it
measured; the script ends non-zero when any check failed.

  search     a small AKD search on the embedded Fashion-MNIST subset with the teacher cache
             and `precision: auto` (bf16 autocast where the GPU has it, else fp16 with a
             gradient scaler), trials on the GPU
  ray        the same search as Ray tasks asking for `gpus_per_trial: 0.25` (four trials per GPU)
  ddp        `torchrun --nproc-per-node 2 -m distillnas train` (NCCL) when there are 2+ GPUs
  speed      bench/trial_speed.py on the GPU (images/s per precision, fraction of peak)

    python bench/gpu_check.py                 # under 10 minutes on one GPU
    python bench/gpu_check.py --cpu-smoke     # the same flow on CPU at toy sizes (gloo for ddp)

Writes results/gpu_check.json (and results/trial_speed_gpu.json).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from distillnas.runconfig import load_search_config
from distillnas.search import run_search
from distillnas.store import TrialStore

from _common import report

HERE = Path(__file__).resolve().parent


def search_check(work: Path, smoke: bool, extra: list[str]) -> dict:
    """A short search; how many trials finished, and the precision its trials ran in."""
    trials = 4 if smoke else 16
    cfg = load_search_config("akd_fmnist12k", [f"--run_dir={work}", f"--search.trials={trials}",
                                               "--search.batch_size=4", "--teacher.seeds=[0, 1]",
                                               f"--teacher.epochs={0.2 if smoke else 2}",
                                               f"--evaluator.proxy.epochs={0.1 if smoke else 0.6}", *extra])
    out = run_search(cfg, progress=False)
    rows = TrialStore(Path(work) / "trials.sqlite", readonly=True).trials()
    ok = [r for r in rows if r["status"] == "ok"]
    if len(ok) < trials:
        raise RuntimeError(f"{len(ok)} of {trials} trials finished: {[r['error'] for r in rows if r['error']][:2]}")
    return {"trials": len(ok), "best_reward": out.best[0]["reward"] if out.best else None,
            "images_per_s": sum(r["extra"].get("images_per_s", 0) for r in ok) / len(ok)}


def ddp_check(work: Path, smoke: bool) -> dict:
    """Data-parallel retraining in two processes (NCCL on CUDA, gloo in the CPU smoke)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "distillnas", "train",
           "--arch", "resnet8", "--dataset", "fmnist12k", "--loss", "ce", "--seeds", "0",
           "--epochs", "0.2" if smoke else "2", "--out", str(work), "--device", "cpu" if smoke else "cuda"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
    saved = sorted(Path(work).glob("*.pt"))
    if not saved:
        raise RuntimeError("no checkpoint written")
    return {"checkpoint": saved[0].name, "tail": done.stdout.strip().splitlines()[-1][:200]}


def speed_check(smoke: bool) -> dict:
    device = "cpu" if smoke else "cuda"
    cmd = [sys.executable, str(HERE / "trial_speed.py"), "--device", device, "--steps", "2" if smoke else "12",
           *(["--models", "resnet8"] if smoke else []),
           "--out", f"trial_speed_{'smoke' if smoke else 'gpu'}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=HERE)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
    return {"table": done.stdout.strip().splitlines()[-8:]}


def run(name: str, fn: Callable[[], dict]) -> dict:
    start = time.perf_counter()
    try:
        row = {"check": name, "status": "ok", **fn()}
    except Exception as e:  # one failing path must not hide the others
        row = {"check": name, "status": "failed", "error": f"{type(e).__name__}: {str(e)[:300]}"}
    row["wall_s"] = round(time.perf_counter() - start, 1)
    print(row, flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpu-smoke", action="store_true", help="run the flow on CPU at toy sizes (no GPU needed)")
    args = ap.parse_args()
    smoke = args.cpu_smoke
    if not smoke and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run it on a GPU machine, or use --cpu-smoke", file=sys.stderr)
        return 2
    gpus = 0 if smoke else torch.cuda.device_count()
    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    rows = [run("search (AMP, teacher cache)", lambda: search_check(work / "search", smoke, [])),
            run("ray (gpus_per_trial 0.25)", lambda: search_check(
                work / "ray", smoke, ["--execution.executor=ray", "--execution.cpus_per_trial=1",
                                      f"--execution.gpus_per_trial={0 if smoke else 0.25}"]))]
    if smoke or gpus >= 2:
        rows.append(run("ddp (2 processes)", lambda: ddp_check(work / "ddp", smoke)))
    else:
        rows.append({"check": "ddp (2 processes)", "status": "skipped", "error": f"{gpus} GPU(s); needs 2"})
    rows.append(run("speed (trial_speed.py)", lambda: speed_check(smoke)))
    device = "cpu (smoke)" if smoke else torch.cuda.get_device_name(0)
    report("gpu_check" + ("_smoke" if smoke else ""), [{k: v for k, v in r.items() if k != "table"} for r in rows],
           {"device": device, "gpus": gpus, "torch": torch.__version__, "cuda": torch.version.cuda,
            "pid": os.getpid()})
    return 0 if all(r["status"] in ("ok", "skipped") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
