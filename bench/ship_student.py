"""Ship a trained student inside the package, so users find it by a short name (issue 41 item 6,
issue 44 item 4): `distillnas evaluate NAME`, `load_student("NAME")`, `distillnas list artifacts`.

Copies CHECKPOINT into src/distillnas/artifacts/NAME/ and writes its card.yaml: what it is, the
data and preprocessing it expects (read from the checkpoint), the recipe, the accuracy line you
measured (with its split and seeds - this script does not score anything on the test set, so
the card says what the showcase measured, not what a second look found), params, MACs, the
SHA-256 every later use checks, the commit and the licence.

    python bench/ship_student.py bench/results/showcase_fmnist/rows/search-kd/<ckpt>.pt --name fmnist-100k \\
        --description "..." --accuracy "..." --recipe "..." --made "..."
"""
from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from distillnas.checkpoint import load_student
from distillnas.cost import count_macs, count_params
from distillnas.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1] / "src" / "distillnas" / "artifacts"
NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,40}$")
LICENCE = ("the weights are distillnas's (MIT); Fashion-MNIST by Zalando Research "
           "(Xiao, Rasul & Vollgraf 2017), MIT")


def card_for(checkpoint: Path, a: argparse.Namespace) -> dict:
    """The card of the student in `checkpoint` (its file named as it will be shipped)."""
    model, meta = load_student(checkpoint)
    pre = meta.get("preprocessing") or {}
    size, ch = int(pre.get("size", 28)), int(pre.get("channels", 1))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT.parent).stdout.strip()
    data = (f"{pre.get('dataset', '?')} ({ch}x{size}x{size}, (x/255 - {', '.join(f'{m:.3f}' for m in pre.get('mean', []))})"
            f" / {', '.join(f'{s:.3f}' for s in pre.get('std', []))})")
    return {"name": a.name, "kind": "student", "description": a.description,
            "files": {checkpoint.name: hashlib.sha256(checkpoint.read_bytes()).hexdigest()},
            "arch": meta.get("arch"), "data": data, "recipe": a.recipe, "accuracy": a.accuracy,
            "params": f"{count_params(model):,}", "macs": f"{count_macs(model, (1, ch, size, size)) / 1e6:.2f} M",
            "made": f"{a.made}; shipped at distillnas commit {commit}", "licence": a.licence}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="A student checkpoint written by train / a showcase row.")
    p.add_argument("--name", required=True, help="The short name (lower case, digits, '-' and '.').")
    p.add_argument("--description", required=True, help="One line: what the student is.")
    p.add_argument("--accuracy", required=True, help="The measured accuracy line: split, seeds, mean ± sd.")
    p.add_argument("--recipe", required=True, help="How it was trained (command, epochs, loss, teacher).")
    p.add_argument("--made", required=True, help="When, on what machine, how long.")
    p.add_argument("--licence", default=LICENCE)
    p.add_argument("--force", action="store_true", help="Replace an artifact of that name.")
    a = p.parse_args()
    if not NAME.match(a.name):
        p.error(f"--name {a.name!r}: use 2-41 characters of a-z, 0-9, '-' and '.'")
    if not a.checkpoint.is_file():
        p.error(f"checkpoint {str(a.checkpoint)!r} is not a file")
    folder = ROOT / a.name
    if folder.exists() and not a.force:
        p.error(f"artifact {a.name!r} exists at {folder}; --force replaces it")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / a.checkpoint.name
    shutil.copyfile(a.checkpoint, target)
    card = card_for(target, a)
    header = f"# {a.description} - shipped by bench/ship_student.py; use it by name: distillnas evaluate {a.name}\n"
    atomic_write_text(folder / "card.yaml", header + yaml.safe_dump(card, sort_keys=False, allow_unicode=True, width=120))
    print(f"-> {folder / 'card.yaml'} ({card['params']} params, {card['macs']} MACs)", file=sys.stderr)


if __name__ == "__main__":
    main()
