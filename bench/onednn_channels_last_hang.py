"""Standalone reproducer of a oneDNN bug: channels-last conv backward hangs or corrupts the heap.

No distillnas imports. Each case runs in its own subprocess (a hang or an abort must not take
the probe down) with a time limit: 'ok' (finished), 'hang' (killed at the limit) or 'crash'
(non-zero exit, e.g. glibc's "double free" abort). Contiguous layout is run beside it as the
control. Seen on AMD EPYC (AVX2), torch 2.13 CPU: Conv2d(4, 8, 1, stride=2) at batch 128,
28x28 hangs with 2 OpenMP threads and aborts with OMP_NUM_THREADS=1.

    python bench/onednn_channels_last_hang.py            # the grid below, ~10 minutes on 2 cores
    python bench/onednn_channels_last_hang.py --quick    # the known bad case and a safe one
    python bench/onednn_channels_last_hang.py --precision fp32,bf16   # also under bf16 autocast

Prints a table and writes bench/results/onednn_channels_last_hang.json.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import contextlib, sys, time, torch
cin, cout, k, s, groups, n = map(int, sys.argv[1:7])
bf16 = sys.argv[7] == "bf16"
for cl in (False, True):  # the contiguous control first: its time is printed even if channels-last hangs
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(cin, cout, k, stride=s, padding=k // 2, groups=groups, bias=False)
    x = torch.randn(128, cin, 28, 28)
    if cl:
        conv = conv.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    t = time.perf_counter()
    for _ in range(n):
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            y = conv(x)
        y.float().sum().backward()
    print(f"{time.perf_counter() - t:.4f}", flush=True)
"""


def run_case(cin: int, cout: int, k: int, s: int, groups: int, threads: int, passes: int,
             limit: float, precision: str = "fp32") -> tuple[tuple[str, float | None], tuple[str, float | None]]:
    """((contiguous status, seconds), (channels-last status, seconds)) from one child process."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    args = [sys.executable, "-c", CHILD, *map(str, (cin, cout, k, s, groups, passes)), precision]
    try:
        p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=limit)
        out, failure = p.stdout, ("crash" if p.returncode != 0 else "")
    except subprocess.TimeoutExpired as e:
        out, failure = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), "hang"
    times = [float(t) for t in out.split()]
    got = [("ok", t) for t in times] + [(failure, None)] * (2 - len(times))
    return got[0], got[1]


def grid(quick: bool) -> list[tuple[int, int, int, int, int]]:
    if quick:
        return [(4, 8, 1, 2, 1), (8, 16, 1, 2, 1)]
    dense = [(ci, co, k, s, 1) for ci, co, k, s in itertools.product((1, 2, 3, 4, 6, 8, 12, 16), (4, 8, 16),
                                                                     (1, 3), (1, 2))]
    depthwise = [(c, c, 3, s, c) for c in (4, 8, 16) for s in (1, 2)]
    return dense + depthwise


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--passes", type=int, default=40)
    ap.add_argument("--limit", type=float, default=10.0, help="seconds before a case counts as hung")
    ap.add_argument("--threads", default="2,1")
    ap.add_argument("--precision", default="fp32", help="comma list of fp32 | bf16 (bf16: under CPU autocast)")
    args = ap.parse_args()
    rows = []
    for (cin, cout, k, s, g), threads, prec in itertools.product(grid(args.quick), map(int, args.threads.split(",")),
                                                                 args.precision.split(",")):
        (base, t0), (cl, t1) = run_case(cin, cout, k, s, g, threads, args.passes, args.limit, prec)
        row = {"cin": cin, "cout": cout, "k": k, "stride": s, "groups": g, "threads": threads, "precision": prec,
               "contiguous": base, "channels_last": cl, "contiguous_s": t0, "channels_last_s": t1}
        rows.append(row)
        print(f"Conv2d({cin:>2}, {cout:>2}, {k}, stride={s}, groups={g:>2}) threads={threads} {prec}: "
              f"contiguous {base:<5} {t0 or 0:7.3f}s   channels_last {cl:<5} {t1 or 0:7.3f}s", flush=True)
    bad = [r for r in rows if r["channels_last"] != "ok"]
    print(f"\n{len(bad)} of {len(rows)} channels-last cases hung or crashed "
          f"(contiguous: {sum(r['contiguous'] != 'ok' for r in rows)})")
    for r in bad:
        print(f"  {r['channels_last']}: Conv2d({r['cin']}, {r['cout']}, {r['k']}, stride={r['stride']}, "
              f"groups={r['groups']}) threads={r['threads']} {r['precision']}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    import torch

    meta = {"torch": torch.__version__, "cpu": _cpu(), "time": time.strftime("%Y-%m-%d %H:%M"),
            "passes": args.passes, "limit_s": args.limit}
    (out / "onednn_channels_last_hang.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
