"""Shipped artifacts by short name: teachers and students that come with the package.

Each lives in `distillnas/artifacts/<name>/` beside a `card.yaml` that says what it is (kind,
data, recipe, accuracy with its split and seeds, params, MACs, when and from which commit it
was made, licence) and holds the SHA-256 of every file. A name is accepted wherever a path is:
a teacher spec (`--teacher fmnist12k-resnet8x3`), a checkpoint (`distillnas evaluate NAME`,
`load_student(NAME)`) for single-file artifacts. Every use checks the digests first: a missing
or altered file is one clear error, never a silently different model. Torch-free, so
`distillnas list artifacts` stays fast.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import DistillnasError, suggest
from .io import read_yaml_file

KINDS = ("teacher", "student")


@dataclass(frozen=True)
class Artifact:
    """One shipped artifact: its card and where its files are."""

    name: str
    kind: str
    folder: Path
    card: dict[str, Any]

    @property
    def files(self) -> dict[str, str]:
        """{file name: SHA-256} as the card records them."""
        return dict(self.card.get("files") or {})

    def paths(self) -> list[Path]:
        """The artifact's files, each checked against the card's digest."""
        out = []
        for file, digest in sorted(self.files.items()):
            path = self.folder / file
            if not path.is_file():
                raise DistillnasError(f"artifact {self.name!r}: its file {str(path)!r} is missing; reinstall distillnas")
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
            if actual != digest:
                raise DistillnasError(f"artifact {self.name!r}: {str(path)!r} was altered (SHA-256 {actual[:12]}…, "
                                      f"its card says {str(digest)[:12]}…); reinstall distillnas")
            out.append(path)
        return out


def artifacts_root() -> Path:
    """Where the shipped artifacts live inside the installed package."""
    return Path(str(resources.files("distillnas") / "artifacts"))


def shipped() -> dict[str, Artifact]:
    """Every shipped artifact by name (its folder's card)."""
    root = artifacts_root()
    out = {}
    for card_path in sorted(root.glob("*/card.yaml")) if root.is_dir() else []:
        card = read_yaml_file(card_path, "artifact card")
        name, kind = str(card.get("name", "")), str(card.get("kind", ""))
        if name != card_path.parent.name or kind not in KINDS or not card.get("files"):
            raise DistillnasError(f"artifact card {str(card_path)!r} needs name (its folder's), kind ({', '.join(KINDS)}) "
                                  "and files")
        out[name] = Artifact(name, kind, card_path.parent, card)
    return out


def is_artifact(name: str) -> bool:
    """Whether `name` is a shipped artifact's name (and not a file or folder of that name)."""
    return not Path(name).exists() and name in shipped()


def artifact_paths(name: str, kind: str | None = None) -> list[Path]:
    """The verified files of artifact `name` (of `kind`, when given)."""
    known = shipped()
    if name not in known:
        raise DistillnasError(f"no shipped artifact {name!r}{suggest(name, known)}; `distillnas list artifacts` "
                              "names them")
    a = known[name]
    if kind is not None and a.kind != kind:
        raise DistillnasError(f"artifact {name!r} is a {a.kind}, not a {kind}")
    return a.paths()


def checkpoint_path(path: str | Path) -> Path:
    """`path` itself, or - when it names a single-file shipped artifact instead of a file - that
    file, verified (what `load_student` and `distillnas evaluate` accept)."""
    p = Path(path)
    if p.exists() or not is_artifact(str(path)):
        return p
    files = artifact_paths(str(path))
    if len(files) != 1:
        raise DistillnasError(f"artifact {str(path)!r} holds {len(files)} checkpoints (an ensemble); use it as a "
                              f"teacher, or give one of its files: {', '.join(str(f) for f in files)}")
    return files[0]


def describe() -> list[tuple[str, str]]:
    """(name, one line) of every shipped artifact, for `distillnas list artifacts`."""
    return [(n, f"{a.kind}: {a.card.get('description', '')}; {a.card.get('accuracy', '')}")
            for n, a in sorted(shipped().items())]
