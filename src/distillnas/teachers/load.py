"""Teacher specs -> teachers.

A spec is one of
  * a distillnas checkpoint (``*.pt``) written by ``distillnas train`` or ``teacher train``;
  * a TorchScript file (``torch.jit.save``);
  * ``python:pkg.module:factory`` or ``python:pkg.module:factory@weights.pt`` - the factory is
    called with ``num_classes=`` when it accepts it; the weights are a state_dict;
  * a logits file (``.npy`` or ``.pt`` tensor) with one row per dataset pool example, or
    per training-pool example, in the dataset's order;
  * a directory (every ``*.pt`` checkpoint in it) or a comma-separated list: an ensemble;
  * the name of a shipped teacher (``distillnas list artifacts``), its files checked first;
  * any of these behind ``flip:`` - each member answers for the image and its mirror image
    together (test-time augmentation, `base.FlipAveraged`; not for a logits file).
Every teacher is checked against the dataset: its class count must match.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch
import torch.nn as nn

from ..checkpoint import is_checkpoint, student_from_payload
from ..data import ImageDataset, Normalizer
from ..errors import DistillnasError
from ..io import safe_torch_load
from ..shipped import artifact_paths, is_artifact
from .base import Ensemble, FlipAveraged, LogitsTeacher, ModuleTeacher

FLIP = "flip:"


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())


def _check_classes(teacher: ModuleTeacher | LogitsTeacher, ds: ImageDataset) -> None:
    if teacher.num_classes != ds.num_classes:
        raise DistillnasError(f"teacher {teacher.name!r} predicts {teacher.num_classes} classes but dataset "
                              f"{ds.name!r} has {ds.num_classes}")


def _probe_classes(module: nn.Module, name: str, ds: ImageDataset) -> int:
    """Run one example through the module to learn its output width (and that it runs)."""
    x = Normalizer(ds)(ds.images[:2])
    try:
        with torch.inference_mode():
            out = module.eval()(x)
    except Exception as e:
        raise DistillnasError(f"teacher {name!r} fails on {ds.name!r} inputs of shape {tuple(x.shape)}: "
                              f"{str(e).splitlines()[0][:160]}") from None
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        raise DistillnasError(f"teacher {name!r} must return logits (batch, classes), got {type(out).__name__}")
    if not torch.isfinite(out).all():
        raise DistillnasError(f"teacher {name!r} gives non-finite logits (inf or NaN) on {ds.name!r} images; "
                              "its weights are broken")
    return int(out.shape[1])


def _from_checkpoint(path: Path, payload: dict, ds: ImageDataset) -> ModuleTeacher:
    if payload["in_channels"] != ds.in_channels:
        raise DistillnasError(f"teacher {str(path)!r} takes {payload['in_channels']}-channel images but dataset "
                              f"{ds.name!r} has {ds.in_channels}")
    model, meta = student_from_payload(payload, path)
    _probe_classes(model, str(path), ds)  # runs it once: broken weights are found here, not mid-search
    return ModuleTeacher(model, str(path), _file_hash(path), int(meta["num_classes"]))


def _from_torchscript(path: Path, ds: ImageDataset) -> ModuleTeacher:
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:
        raise DistillnasError(f"TorchScript teacher {str(path)!r} cannot be loaded: {str(e).splitlines()[0][:160]}") from None
    return ModuleTeacher(module, str(path), _file_hash(path), _probe_classes(module, str(path), ds))


def _from_python(spec: str, ds: ImageDataset) -> ModuleTeacher:
    target, _, weights = spec[len("python:"):].partition("@")
    mod_name, _, fn_name = target.partition(":")
    if not mod_name or not fn_name:
        raise DistillnasError(f"bad teacher spec {spec!r}; write python:package.module:factory[@weights.pt]")
    try:
        factory = getattr(importlib.import_module(mod_name), fn_name)
    except (ImportError, AttributeError) as e:
        raise DistillnasError(f"teacher factory {target!r} cannot be imported: {e}") from None
    kwargs = {"num_classes": ds.num_classes} if "num_classes" in inspect.signature(factory).parameters else {}
    try:
        module = factory(**kwargs)
    except Exception as e:
        raise DistillnasError(f"teacher factory {target!r} failed: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}") from None
    if not isinstance(module, nn.Module):
        raise DistillnasError(f"teacher factory {target!r} must return a torch.nn.Module, got {type(module).__name__}")
    identity = hashlib.sha256(target.encode()).hexdigest()[:8]
    if weights:
        wpath = Path(weights)
        state = safe_torch_load(wpath, "teacher weights")
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        try:
            module.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as e:
            raise DistillnasError(f"teacher weights {weights!r} do not fit {target!r}: "
                                  f"{str(e).splitlines()[0][:160]}") from None
        identity += _file_hash(wpath)
    return ModuleTeacher(module, spec, identity, _probe_classes(module, spec, ds))


def _read_npy(path: Path) -> torch.Tensor:
    try:
        return torch.from_numpy(np.load(path, allow_pickle=False))
    except Exception as e:  # numpy raises several types for truncated or foreign files
        raise DistillnasError(f"logits file {str(path)!r} is truncated or unreadable ({type(e).__name__})") from None


def _from_logits(path: Path, arr: object, ds: ImageDataset) -> LogitsTeacher:
    if not isinstance(arr, torch.Tensor) or arr.dim() != 2:
        raise DistillnasError(f"logits file {str(path)!r} must hold a (examples, classes) array")
    if not arr.is_floating_point():
        raise DistillnasError(f"logits file {str(path)!r} holds {arr.dtype} values; logits must be floats")
    bad = int((~torch.isfinite(arr)).any(dim=1).sum())
    if bad:
        raise DistillnasError(f"logits file {str(path)!r} has non-finite values (inf or NaN) in {bad} of "
                              f"{len(arr)} rows")
    allowed = sorted({len(ds), ds.test_start or len(ds)})
    if len(arr) not in allowed:
        raise DistillnasError(f"logits file {str(path)!r} has {len(arr)} rows; dataset {ds.name!r} needs "
                              + " or ".join(str(a) for a in allowed) + " (one per example, in dataset order)")
    return LogitsTeacher(arr.float(), str(path), _file_hash(path), int(arr.shape[1]))


def _load_one(spec: str, ds: ImageDataset) -> ModuleTeacher | LogitsTeacher | FlipAveraged:
    if spec.startswith(FLIP):
        inner = _load_one(spec[len(FLIP):], ds)
        if not isinstance(inner, ModuleTeacher):
            raise DistillnasError(f"teacher {spec!r}: flip: mirrors the images a network sees, and "
                                  f"{spec[len(FLIP):]!r} is a logits file or already flipped; give a network")
        return FlipAveraged(inner)
    if spec.startswith("python:"):
        teacher: ModuleTeacher | LogitsTeacher = _from_python(spec, ds)
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise DistillnasError(f"teacher {spec!r} is neither a file, a directory of checkpoints, nor python:...")
        if path.suffix == ".npy":
            teacher = _from_logits(path, _read_npy(path), ds)
        elif _is_torchscript(path):
            teacher = _from_torchscript(path, ds)
        else:  # one read tells a checkpoint from a .pt tensor of logits
            payload = safe_torch_load(path, "teacher")
            if isinstance(payload, dict) and not is_checkpoint(payload):
                raise DistillnasError(f"teacher {spec!r} is neither a distillnas checkpoint nor a logits tensor: a "
                                      f"dict of {len(payload)} entries (a state_dict? give it with its network as "
                                      "python:package.module:factory@weights.pt)")
            teacher = (_from_checkpoint(path, payload, ds) if is_checkpoint(payload)
                       else _from_logits(path, payload, ds))
    _check_classes(teacher, ds)
    return teacher


def expand_spec(spec: str | Sequence[str]) -> list[str]:
    """A spec, list, comma list or directory -> the member specs, in a stable order."""
    items = [spec] if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for item in items:
        for part in (p.strip() for p in item.split(",") if p.strip()):
            if part.startswith(FLIP):  # flip: applies to every member the rest names
                out.extend(FLIP + m for m in expand_spec(part[len(FLIP):]))
                continue
            path = Path(part).expanduser()
            if not part.startswith("python:") and is_artifact(part):  # a shipped teacher by name
                out.extend(str(p) for p in artifact_paths(part, "teacher"))
            elif not part.startswith("python:") and path.is_dir():
                found = sorted(str(p) for p in path.glob("*.pt"))
                if not found:
                    raise DistillnasError(f"teacher directory {part!r} holds no *.pt checkpoints")
                out.extend(found)
            else:
                out.append(part)
    if not out:
        raise DistillnasError("no teacher given")
    return out


@dataclass(frozen=True)
class TeacherSpec:
    """Where a teacher comes from, normalised once (at the edge, where a search or training
    starts): one spec per member, shipped names and directories expanded into their files.
    Plain strings inside, so it pickles to Ray workers; `load(ds)` builds the teacher there."""

    members: tuple[str, ...]

    @classmethod
    def of(cls, spec: "str | Sequence[str] | TeacherSpec") -> "TeacherSpec":
        """The normalised spec of a spec string, a list of them, or a spec already normalised."""
        return spec if isinstance(spec, TeacherSpec) else cls(tuple(expand_spec(spec)))

    def load(self, ds: ImageDataset) -> ModuleTeacher | LogitsTeacher | FlipAveraged | Ensemble:
        """The teacher (an ensemble when there are several members), checked against `ds`."""
        members = [_load_one(s, ds) for s in self.members]
        return members[0] if len(members) == 1 else Ensemble(members)


SpecLike = Union[str, Sequence[str], TeacherSpec]


def load_teacher(spec: SpecLike, ds: ImageDataset) -> ModuleTeacher | LogitsTeacher | FlipAveraged | Ensemble:
    """Load a teacher (or an ensemble when the spec names several) for dataset `ds`."""
    return TeacherSpec.of(spec).load(ds)
