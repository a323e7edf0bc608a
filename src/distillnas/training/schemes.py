"""Training schemes that are not a single loss: TA-KD, RCO and DML, around `train_student`.

- **TA-KD** (Mirzadeh et al., AAAI 2020, "Improved Knowledge Distillation via Teacher
  Assistant"): a teacher assistant of intermediate size is distilled from the teacher, then
  the student from the assistant, with the same loss. AKD (Table 6) used a channel-expanded
  copy of its searched student as the assistant; here it is any arch (of the student's space
  when the student is a searched one), checked to lie strictly between student and teacher
  in parameters.
- **RCO** (Jin et al., ICCV 2019, "Knowledge Distillation via Route Constrained
  Optimization"): the student follows the teacher's own training route, distilling from a
  sequence of its intermediate checkpoints, easy to hard. `teacher train --route N` saves N
  anchors; the student's training is split into N equal stages, stage k distilling from
  anchor k, continuing one optimiser and one lr schedule across stages (the multi-fidelity
  continuation of `fit`).
- **BSS** (Heo et al., AAAI 2019, "Knowledge Distillation with Adversarial Samples
  Supporting Decision Boundary"): besides the base loss, the student matches the teacher on
  boundary-supporting samples - each image the teacher gets right, moved by a few
  normalised gradient steps on (z_k - z_y) toward the teacher's runner-up class k until it
  crosses the boundary - with weight beta decaying linearly to 0 at `bss_until` of the run
  (the paper's defaults as we read them: beta 2, T 4 as the base KD's, 10 steps). Only
  `bss_samples` images of each (shuffled) batch are attacked - the paper, too, attacks a part
  of each batch - which bounds the extra cost: on 2 CPU cores, the term for a mnist5k batch
  of 128 (searched student, ResNet-20 teacher, 10 steps) takes 2.7 s attacking all 128 and
  0.74 s attacking 32, where the whole KD step takes a few hundredths. The only
  scheme that needs the teacher *online* (it differentiates the teacher w.r.t. its input),
  so it refuses a logits-file teacher.
- **DML** (Zhang et al., CVPR 2018, "Deep Mutual Learning"): K peers of the student's arch
  trained together, each with the base loss plus KL(p_peers || p_i) towards the mean of the
  other peers' predictions (detached, so one simultaneous step updates every peer; the paper
  steps peers in turn). The first peer is the student that is evaluated and saved.

Teachers run through the cache (logits of every anchor, assistant or teacher are cached
like any teacher's); only BSS also runs the teacher online, on its adversarial samples.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import torch
import torch.nn as nn
import torch.nn.functional as F
from pydantic import Field

from ..checkpoint import checkpoint_name
from ..cost import count_params
from ..data import ImageDataset, Splits
from ..distill import build_loss
from ..errors import DistillnasError
from ..models import Student
from ..registry import Registry
from ..section import Section
from ..teachers import Teacher, TeacherCache, load_teacher
from ..recipe import TrainConfig
from .student import StudentRun, resolve_student, train_in_stages, train_resumable, train_student


class SchemeConfig(Section):
    """How a student is trained beyond its loss: a training scheme (TA-KD, RCO, DML, BSS) and its settings."""
    name: Literal["single", "takd", "rco", "dml", "bss"] = "single"
    assistant: str | None = None  # takd: the assistant's arch (in the student's space, if it has one)
    route: str | None = None  # rco: a directory of the teacher's route checkpoints (teacher train --route)
    peers: int = Field(2, ge=2, le=8)  # dml: students trained together
    bss_weight: float = Field(2.0, ge=0)  # bss: beta at the start of the run
    bss_until: float = Field(0.75, gt=0, le=1)  # bss: share of the run after which beta is 0
    bss_steps: int = Field(10, ge=1, le=100)  # bss: attack steps per image
    bss_step_size: float = Field(0.05, gt=0)  # bss: step length per input dimension, normalised units
    bss_samples: int = Field(32, ge=1)  # bss: images of each batch attacked (the cost: 2*steps teacher passes on them)


def route_checkpoints(route: str | Path) -> list[Path]:
    """The anchors of a route directory in training order (files e<epoch>.pt)."""
    path = Path(route)
    if not path.is_dir():
        raise DistillnasError(f"RCO route {str(route)!r} is not a directory; make one with "
                              "`distillnas teacher train --route N` (it writes OUT/route/seed<S>/e<epoch>.pt)")
    found = [p for p in path.glob("e*.pt") if _epoch(p) is not None]
    if not found:
        raise DistillnasError(f"RCO route {str(route)!r} holds no checkpoints e<epoch>.pt; make them with "
                              "`distillnas teacher train --route N`")
    return sorted(found, key=_epoch)  # type: ignore[arg-type]


def _epoch(p: Path) -> float | None:
    try:
        return float(p.stem[1:])
    except ValueError:
        return None


def _teacher_params(teacher) -> int | None:  # noqa: ANN001
    """Parameters of the largest network of a teacher, or None for a logits file."""
    members = getattr(teacher, "members", [teacher])
    sizes = [count_params(m.module) for m in members if hasattr(m, "module")]
    return max(sizes) if sizes else None


@dataclass(frozen=True)
class Scheme:
    """A training scheme: its checks of the user's input (run before any training) and its training."""

    check: Callable[[SchemeConfig, Student, Student | None, ImageDataset, Teacher | None, str], None]
    train: Callable[..., StudentRun]  # (student, assistant, cfg, ds, splits, scheme, teacher, out_dir, run_config, common)
    data_parallel: bool = True  # False: it passes checkpoints between runs (assistant, route stages)
    own_teachers: bool = False  # True: its teachers are its own checkpoints, not --teacher (RCO's route)


SCHEMES: Registry[Scheme] = Registry("training scheme")


def check_scheme(scheme: SchemeConfig, student: Student | str, ds: ImageDataset, teacher: Teacher | None,
                 loss: str, assistant: Student | None = None) -> None:
    """Every scheme's bad input as one clear error, before any training. `assistant` is TA-KD's
    (`scheme.assistant` built as a man-made arch when not given)."""
    student = resolve_student(student, ds)
    SCHEMES.get(scheme.name).check(scheme, student, _assistant(scheme, assistant, ds), ds, teacher, loss)


def train_with_scheme(student: Student | str, cfg: TrainConfig, ds: ImageDataset, splits: Splits,
                      scheme: SchemeConfig, *, assistant: Student | None = None, teacher: Teacher | None = None,
                      cache: TeacherCache | None = None, seed: int = 0, train_split: str = "train",
                      eval_splits: tuple[str, ...] = ("test",), out_dir: str | Path | None = None,
                      run_config: dict | None = None, progress: bool = False, save_every: float = 0) -> StudentRun:
    """One student trained under `scheme` (check_scheme first); the run's loss names the scheme.

    `save_every` E > 0 (the single scheme; the others pass checkpoints between their own stages
    and train unsplit) keeps the training state every ~E epochs in OUT/.resume/<checkpoint
    name>/, so the same call after a kill continues from the last kept stage (train_resumable)."""
    student = resolve_student(student, ds)
    if save_every > 0 and scheme.name == "single" and out_dir is not None:
        stem = Path(checkpoint_name(student.arch, cfg.loss.name, seed, student.space)).stem
        return train_resumable(student, cfg, ds, splits, save_every=save_every,
                               state_dir=Path(out_dir) / ".resume" / stem,
                               fingerprint={"arch": student.arch, "seed": seed, **(run_config or {"train": cfg.model_dump()})},
                               teacher=teacher, out_dir=out_dir, eval_splits=eval_splits, cache=cache, seed=seed,
                               train_split=train_split, run_config=run_config, progress=progress)
    common = dict(cache=cache, seed=seed, train_split=train_split, eval_splits=eval_splits, progress=progress)
    run = SCHEMES.get(scheme.name).train(student, _assistant(scheme, assistant, ds), cfg, ds, splits, scheme, teacher,
                                         out_dir, run_config, common)
    if scheme.name == "single" or run.loss.startswith(f"{scheme.name}:"):  # single, or a failed assistant
        return run
    run.loss = f"{scheme.name}:{run.loss}"
    if run.checkpoint:  # beside a plain run of the same loss in the same directory, not over it
        named = Path(run.checkpoint).with_name(checkpoint_name(run.arch, run.loss.replace(":", "_"), seed,
                                                               student.space))
        Path(run.checkpoint).replace(named)
        run.checkpoint = str(named)
    return run


def _assistant(scheme: SchemeConfig, given: Student | None, ds: ImageDataset) -> Student | None:
    if given is not None or not scheme.assistant or scheme.name != "takd":
        return given
    return resolve_student(scheme.assistant, ds)


def _no_check(scheme: SchemeConfig, student: Student, assistant: Student | None, ds: ImageDataset,
              teacher: Teacher | None, loss: str) -> None:
    """Nothing to check beyond the loss's own checks."""


def _check_takd(scheme: SchemeConfig, student: Student, assistant: Student | None, ds: ImageDataset,
                teacher: Teacher | None, loss: str) -> None:
    if assistant is None:
        raise DistillnasError("--scheme takd needs --assistant ARCH (an arch between the student and the teacher "
                              "in size, e.g. the student with wider channels)")
    if teacher is None:
        raise DistillnasError("--scheme takd distils teacher -> assistant -> student: give --teacher")
    a, s, t = count_params(assistant.build()), count_params(student.build()), _teacher_params(teacher)
    if t is not None and a >= t:
        raise DistillnasError(f"assistant {assistant.arch!r} has {a:,} parameters, not fewer than the "
                              f"teacher's {t:,}; TA-KD needs an assistant smaller than the teacher")
    if a <= s:
        raise DistillnasError(f"assistant {assistant.arch!r} has {a:,} parameters, not more than the "
                              f"student's {s:,}; TA-KD needs an assistant larger than the student")


def _check_rco(scheme: SchemeConfig, student: Student, assistant: Student | None, ds: ImageDataset,
               teacher: Teacher | None, loss: str) -> None:
    if not scheme.route:
        raise DistillnasError("--scheme rco needs --route DIR: the teacher's intermediate checkpoints "
                              "(`distillnas teacher train --route N` writes them)")
    if teacher is not None:
        raise DistillnasError("--scheme rco distils from the --route checkpoints (its last one is the final "
                              "teacher); drop --teacher")
    route_checkpoints(scheme.route)
    if not build_loss(loss).needs_teacher:
        raise DistillnasError(f"--scheme rco distils along a route, but loss {loss!r} uses no teacher; use kd")


def _check_bss(scheme: SchemeConfig, student: Student, assistant: Student | None, ds: ImageDataset,
               teacher: Teacher | None, loss: str) -> None:
    if teacher is None:
        raise DistillnasError("--scheme bss moves images across the teacher's decision boundary: give --teacher")
    if not _teacher_modules(teacher):
        raise DistillnasError(f"--scheme bss differentiates the teacher w.r.t. its input, so it needs the "
                              f"network online; teacher {teacher.name!r} is a logits file")
    if not build_loss(loss).needs_teacher:
        raise DistillnasError(f"--scheme bss adds boundary samples to a distillation loss; {loss!r} uses no "
                              "teacher. Use kd")


def _check_dml(scheme: SchemeConfig, student: Student, assistant: Student | None, ds: ImageDataset,
               teacher: Teacher | None, loss: str) -> None:
    if build_loss(loss).needs_features:
        raise DistillnasError(f"--scheme dml adds a mutual term on logits; loss {loss!r} reads features. "
                              "Use a logit loss (ce, kd, dkd, dist)")


def _train_single(student, assistant, cfg, ds, splits, scheme, teacher, out_dir, run_config, common) -> StudentRun:  # noqa: ANN001
    return train_student(student, cfg, ds, splits, teacher=teacher, out_dir=out_dir, run_config=run_config, **common)


def _train_dml(student, assistant, cfg, ds, splits, scheme, teacher, out_dir, run_config, common) -> StudentRun:  # noqa: ANN001
    return train_student(student, cfg, ds, splits, teacher=teacher, out_dir=out_dir, run_config=run_config,
                         cohort=scheme.peers, **common)


def _train_bss(student, assistant, cfg, ds, splits, scheme, teacher, out_dir, run_config, common) -> StudentRun:  # noqa: ANN001
    term = BoundarySupport(_teacher_modules(teacher), cfg.loss.temperature, scheme.bss_weight, scheme.bss_until,
                           scheme.bss_steps, scheme.bss_step_size, scheme.bss_samples)
    return train_student(student, cfg, ds, splits, teacher=teacher, out_dir=out_dir, run_config=run_config,
                         extra=term, **common)


def _train_takd(student, assistant, cfg, ds, splits, scheme, teacher, out_dir, run_config, common) -> StudentRun:  # noqa: ANN001
    work = Path(out_dir) / "assistants" if out_dir else Path(tempfile.mkdtemp(prefix="distillnas-takd-"))
    helper = train_student(assistant, cfg, ds, splits, teacher=teacher, out_dir=work,
                           run_config=run_config, **{**common, "eval_splits": ()})
    if helper.status != "ok" or helper.checkpoint is None:
        return _failed(student.arch, cfg, "takd", common["seed"],
                       f"the assistant did not train: {helper.status} {helper.error}")
    return train_student(student, cfg, ds, splits, teacher=load_teacher(helper.checkpoint, ds), out_dir=out_dir,
                         run_config=run_config, **common)


def _train_rco(student, assistant, cfg, ds, splits, scheme, teacher, out_dir, run_config, common) -> StudentRun:  # noqa: ANN001
    return _train_along_route(student, cfg, ds, splits, route_checkpoints(scheme.route), out_dir, run_config, common)


def _train_along_route(student: Student, cfg: TrainConfig, ds: ImageDataset, splits: Splits, anchors: list[Path],
                       out_dir: str | Path | None, run_config: dict | None, common: dict) -> StudentRun:
    """RCO: N stages of equal length, stage k distilled from anchor k, one schedule throughout."""
    state_dir = Path(out_dir or tempfile.mkdtemp(prefix="distillnas-rco-")) / f"rco_state_seed{common['seed']}"
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        return train_in_stages(student, cfg, ds, splits, len(anchors), state_dir, out_dir=out_dir,
                               stage_teacher=lambda k: load_teacher(str(anchors[k - 1]), ds),
                               run_config=run_config, **common)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def _failed(arch: str, cfg: TrainConfig, scheme: str, seed: int, why: str) -> StudentRun:
    return StudentRun(arch, f"{scheme}:{cfg.loss.name}", seed, "failed", {}, 0, 0.0, 0.0, error=why)


def _teacher_modules(teacher) -> list[nn.Module]:  # noqa: ANN001
    """The teacher's networks (an ensemble's members), or [] when any member is a logits file."""
    members = getattr(teacher, "members", [teacher])
    return [m.module for m in members] if all(hasattr(m, "module") for m in members) else []


class BoundarySupport:
    """BSS's extra term: beta(t) * T^2 KL(teacher || student) on boundary-supporting samples."""

    def __init__(self, teachers: list[nn.Module], temperature: float, weight: float, until: float, steps: int,
                 step_size: float, samples: int = 32) -> None:
        self.teachers, self.t, self.weight, self.until = teachers, temperature, weight, until
        self.steps, self.step_size, self.samples = steps, step_size, samples

    def teacher_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The teacher's logits on the adversarial samples (run online)."""
        return torch.stack([m(x) for m in self.teachers]).float().mean(0)

    def attack(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Images the teacher gets right, stepped toward its runner-up class until they cross."""
        for m in self.teachers:
            m.to(x.device).eval()
        with torch.no_grad():
            z = self.teacher_logits(x)
        right = (z.argmax(1) == y).nonzero().flatten()[:self.samples]  # the batch is shuffled: a random subset
        x, y, z = x[right], y[right], z[right]
        if not len(x):
            return x
        k = z.scatter(1, y[:, None], float("-inf")).argmax(1)
        scale = self.step_size * x[0].numel() ** 0.5  # a step of step_size per dimension, as an L2 length
        adv = x.detach().clone()
        for _ in range(self.steps):
            adv.requires_grad_(True)
            z = self.teacher_logits(adv)
            margin = z.gather(1, k[:, None]) - z.gather(1, y[:, None])  # > 0: across the boundary
            (grad,) = torch.autograd.grad(margin.sum(), adv)
            live = (margin.detach() <= 0).view(-1, *[1] * (x.dim() - 1)).float()
            norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view_as(live)
            adv = (adv + live * scale * grad / norm).detach()
            if not live.any():
                break
        return adv

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, done: float) -> torch.Tensor:
        beta = self.weight * max(0.0, 1.0 - done / self.until)
        if beta == 0.0:
            return x.new_zeros(())
        with torch.enable_grad():
            adv = self.attack(x, y)
        if not len(adv):
            return x.new_zeros(())
        with torch.no_grad():
            t = F.log_softmax(self.teacher_logits(adv) / self.t, -1)
        s = F.log_softmax(model(adv).float() / self.t, -1)
        return beta * self.t ** 2 * (t.exp() * (t - s)).sum(-1).mean()


SCHEMES.register("single", "one loss, one student (the default)")(Scheme(_no_check, _train_single))
SCHEMES.register("takd", "TA-KD (Mirzadeh et al. 2020): teacher -> assistant -> student")(
    Scheme(_check_takd, _train_takd, data_parallel=False))
SCHEMES.register("rco", "RCO (Jin et al. 2019): distil along the teacher's training route")(
    Scheme(_check_rco, _train_rco, data_parallel=False, own_teachers=True))
SCHEMES.register("dml", "deep mutual learning (Zhang et al. 2018): peers trained together")(Scheme(_check_dml, _train_dml))
SCHEMES.register("bss", "BSS (Heo et al. 2019): also match the teacher on boundary-supporting samples")(
    Scheme(_check_bss, _train_bss))
