"""Produce the mnist5k MnasNet KD tables (issue 11) over several sittings.

The `table_mnasnet_mnist5k` grid (1,296 archs, 2 seeds each) is split into `--shards` grid
shards per column (CE, KD from the ResNet-8 ensemble, KD from the MobileNetV2 ensemble). Each
finished shard is exported into `bench/table_parts/mnist5k_mnasnet/<column>/s<i>.txt` and a
line is added to `ledger.tsv` there (archs, sum of trial wall time = CPU-seconds at one thread
per trial, the code commit); commit those files and the next sitting, on any machine, skips
them. An interrupted shard resumes from its run directory while that exists. With `--commit`
the driver commits each finished part (only `bench/table_parts`) itself, so a sitting that ends
abruptly loses at most the shard in progress. Once every part of a column exists, `--merge` joins them into the packaged table
`src/distillnas/benchmarks/mnist5k_mnasnet/<column>.txt`.

Trials run with the code in `--code` (a checkout of one pinned commit: `git worktree add DIR
COMMIT`), so that later changes to the package never mix into one table; export and merge use
the installed package. Each column's teacher is trained (seeded) into the first shard's run of
the sitting and copied to the others; `table merge` checks the weights' digest across sittings.

    python bench/tabulate_mnist5k.py --workdir /work/tables --code /work/tables/code
"""
from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from distillnas.analysis.tables import export_table, merge_tables
from distillnas.benchmarks import write_benchmark
from distillnas.store import TrialStore

REPO = Path(__file__).resolve().parent.parent
PARTS = REPO / "bench" / "table_parts" / "mnist5k_mnasnet"
PACKAGED = REPO / "src" / "distillnas" / "benchmarks" / "mnist5k_mnasnet"
COLUMNS = {"ce": ["--evaluator.proxy.loss.name=ce"], "kd_resnet8": [],
           "kd_mbv2": ["--teacher.arch=mobilenetv2-w0.5"]}


def commit_of(code: Path) -> str:
    return subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()


def run_shard(work: Path, code: Path, column: str, shard: int, shards: int, executor: str) -> Path:
    """Run (or resume) one shard's grid search with the pinned code; the run directory."""
    run = work / column / f"s{shard}"
    run.mkdir(parents=True, exist_ok=True)
    sibling = next((p for p in sorted((work / column).glob("s*/teacher")) if p.parent != run), None)
    if sibling is not None and not (run / "teacher").exists():
        shutil.copytree(sibling, run / "teacher")  # the same seeded network: no need to train it again
    env = dict(os.environ, PYTHONPATH=str(code / "src"))
    cmd = ["nice", "-n", "19", sys.executable, "-m", "distillnas", "search", "--config", "table_mnasnet_mnist5k",
           "--run-dir", str(run), "--executor", executor, f"--strategy.grid.shards={shards}",
           f"--strategy.grid.shard={shard}", "--no-progress", *COLUMNS[column]]
    with open(run / "log.txt", "a") as log:
        subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    return run


def export_part(run: Path, column: str, shard: int, commit: str) -> None:
    table, left_out = export_table(run)
    table.meta["code"] = commit
    part = PARTS / column / f"s{shard}.txt"
    part.parent.mkdir(parents=True, exist_ok=True)
    write_benchmark(part, table)
    store = TrialStore(run / "trials.sqlite", readonly=True)
    try:
        cpu_s = sum(t["wall_s"] or 0.0 for t in store.trials())
    finally:
        store.close()
    ledger = PARTS / "ledger.tsv"
    if not ledger.exists():
        ledger.write_text("column\tshard\tarchs\tfailed\ttrial_cpu_s\tcode\tdate\n")
    with open(ledger, "a") as f:
        f.write(f"{column}\t{shard}\t{len(table.rows)}\t{left_out}\t{cpu_s:.0f}\t{commit}\t"
                f"{datetime.date.today().isoformat()}\n")
    print(f"{column} s{shard}: {len(table.rows)} archs, {cpu_s / 3600:.2f} CPU-h -> {part}", flush=True)


def commit_parts(message: str, tries: int = 5) -> None:
    """Commit only bench/table_parts (another git command holding the index lock is waited for)."""
    subprocess.run(["git", "-C", str(REPO), "add", "--", str(PARTS)], check=True)
    for attempt in range(tries):
        done = subprocess.run(["git", "-C", str(REPO), "commit", "-q", "-m", message, "--", str(PARTS)],
                              capture_output=True, text=True)
        if done.returncode == 0:
            return
        time.sleep(5 * (attempt + 1))
    print(f"could not commit the parts ({done.stderr.strip() or done.stdout.strip()}); commit them by hand", flush=True)


def merge_column(column: str, shards: int) -> None:
    parts = [str(PARTS / column / f"s{i}.txt") for i in range(shards)]
    missing = [p for p in parts if not Path(p).is_file()]
    if missing:
        print(f"{column}: {len(missing)} of {shards} parts missing, not merged", flush=True)
        return
    PACKAGED.mkdir(parents=True, exist_ok=True)
    table = merge_tables(parts)
    write_benchmark(PACKAGED / f"{column}.txt", table)
    print(f"{column}: {len(table.rows)} archs -> {PACKAGED / f'{column}.txt'}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, required=True, help="Where the shards' run directories go.")
    p.add_argument("--code", type=Path, required=True, help="A checkout of the pinned commit the trials run.")
    p.add_argument("--shards", type=int, default=8)
    p.add_argument("--columns", default=",".join(COLUMNS), help=f"Comma list of {', '.join(COLUMNS)}.")
    p.add_argument("--executor", default="ray", help="local | ray (two trials at a time on 2 cores).")
    p.add_argument("--merge", action="store_true", help="Only merge the columns whose parts are all there.")
    p.add_argument("--commit", action="store_true", help="git-commit bench/table_parts after each finished part.")
    a = p.parse_args()
    columns = [c.strip() for c in a.columns.split(",")]
    bad = [c for c in columns if c not in COLUMNS]
    if bad or not (a.code / "src" / "distillnas").is_dir():
        p.error(f"--columns {bad} not among {list(COLUMNS)}" if bad else f"--code {a.code} holds no src/distillnas")
    if a.merge:
        for column in columns:
            merge_column(column, a.shards)
        return
    commit = commit_of(a.code)
    for shard in range(a.shards):
        for column in columns:
            if (PARTS / column / f"s{shard}.txt").is_file():
                continue
            print(f"{datetime.datetime.now():%H:%M:%S} {column} s{shard} (code {commit})", flush=True)
            export_part(run_shard(a.workdir, a.code, column, shard, a.shards, a.executor), column, shard, commit)
            if a.commit:
                commit_parts(f"table parts: mnist5k_mnasnet {column} shard {shard}")


if __name__ == "__main__":
    main()
