"""Training of one student: short proxy runs and long final runs share this code.

`fit` is the loop (SGD + Nesterov, weight decay, linear warm-up, cosine or step decay,
AMP on CUDA, NaN/inf detection that ends the run with status 'diverged').
`train_student` wires a dataset, a teacher (through the output cache) and a loss around it
and writes a checkpoint that carries the arch string and the resolved config.
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from .checkpoint import save_checkpoint
from .config import OptimConfig, TrainConfig
from .data import Batch, ImageDataset, Splits, TensorLoader, make_views
from .distill import TeacherOutput, build_loss, parse_loss_spec
from .errors import DistillnasError
from .models import build_model, canonical_arch, count_params
from .models.layout import channels_last_hazard
from .progress import progress_bar

Targets = Callable[[Batch], TeacherOutput]
log = logging.getLogger("distillnas")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DistillnasError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DistillnasError(f"device {name!r} asked for, but CUDA is not available here; use cpu or auto")
    return device


def use_channels_last(setting: str, device: torch.device, model: nn.Module | None = None) -> bool:
    """'auto': on for CPU, where bench/channels_last.py measured it faster; 'on': on anywhere.
    Never on CPU for a model with a convolution that hangs oneDNN (models/layout.py)."""
    wanted = device.type == "cpu" if setting == "auto" else setting == "on"
    if wanted and device.type == "cpu" and model is not None:
        hazard = channels_last_hazard(model)
        if hazard is not None:
            if setting == "on":
                log.info("channels-last left off for this model on CPU: %s hits a oneDNN hang", hazard)
            return False
    return wanted


def lr_lambda(cfg: OptimConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Multiplier of the base lr at optimizer step `step` (warm-up, then cosine / step)."""
    total = max(1, math.ceil(cfg.epochs * steps_per_epoch))
    warm = int(cfg.warmup_epochs * steps_per_epoch)
    milestones = [int(m * total) for m in cfg.milestones]

    def f(step: int) -> float:
        if step < warm:
            return cfg.warmup_start + (1.0 - cfg.warmup_start) * step / warm
        if cfg.schedule == "cosine":
            progress = (step - warm) / max(1, total - warm)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        if cfg.schedule == "step":
            return cfg.gamma ** sum(step >= m for m in milestones)
        return 1.0

    return f


@dataclass
class FitResult:
    status: str  # ok | diverged
    epochs: float
    steps: int
    loss: float  # mean training loss of the last epoch
    metrics: dict[str, float] = field(default_factory=dict)  # top-1 per evaluated split
    wall_s: float = 0.0
    images_per_s: float = 0.0
    error: str = ""


@torch.no_grad()
def evaluate(model: nn.Module, loader: TensorLoader, device: torch.device, channels_last: bool = False) -> float:
    """Top-1 accuracy of `model` over a loader."""
    model.eval()
    right = 0
    for b in loader:
        x = b.x.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
        right += (model(x).argmax(-1).cpu() == b.y).sum().item()
    return right / max(1, loader.num_examples)


def fit(model: nn.Module, loss_fn: nn.Module, loader: TensorLoader, cfg: OptimConfig, *,
        targets: Targets | None = None, evals: dict[str, TensorLoader] | None = None,
        device: torch.device = torch.device("cpu"), channels_last: bool = False,
        progress: bool = False, label: str = "train") -> FitResult:
    """Train `model` for cfg.epochs (fractions allowed) and evaluate it on `evals`."""
    model.to(device)
    loss_fn.to(device)
    if channels_last and device.type == "cpu" and channels_last_hazard(model) is not None:
        channels_last = False  # a oneDNN hang otherwise (models/layout.py); the loader's layout is then undone below
    if channels_last:
        model.to(memory_format=torch.channels_last)
    params = list(model.parameters()) + list(loss_fn.parameters())
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
                          weight_decay=cfg.weight_decay)
    steps_per_epoch = len(loader)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg, steps_per_epoch))
    total = max(1, math.ceil(cfg.epochs * steps_per_epoch))
    amp = device.type == "cuda"
    amp_dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)
    step, seen, status, error, epoch_loss = 0, 0, "ok", "", float("nan")
    start = time.perf_counter()
    with progress_bar(progress, label, total) as bar:
        while step < total and status == "ok":
            model.train()
            losses = []
            for b in loader:
                if step >= total:
                    break
                x = b.x.to(device, non_blocking=True,
                           memory_format=torch.channels_last if channels_last else torch.contiguous_format)
                y = b.y.to(device, non_blocking=True)
                t = targets(b) if targets is not None else None
                if t is not None:
                    t = TeacherOutput(t.logits.to(device), None if t.features is None else t.features.to(device))
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
                    if getattr(loss_fn, "needs_features", False):
                        feats = model.forward_features(x)
                        logits = model.classifier(feats)
                    else:
                        feats, logits = None, model(x)
                    loss = loss_fn(logits.float(), y, t, None if feats is None else feats.float())
                if not torch.isfinite(loss):
                    status = "diverged"
                    error = f"loss became {loss.item()} at step {step + 1} (epoch {step / steps_per_epoch:.2f})"
                    break
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                try:
                    scaler.step(opt)
                except RuntimeError as e:  # an lr beyond float32 range: torch refuses the update
                    if "overflow" not in str(e):
                        raise
                    status, error = "diverged", f"the update overflowed at step {step + 1}: {str(e)[:120]}"
                    break
                scaler.update()
                sched.step()
                step += 1
                seen += len(y)
                losses.append(loss.item())
                bar.advance(loss=losses[-1])
            epoch_loss = sum(losses) / max(1, len(losses))
    if status == "ok":
        named = [*model.named_parameters(), *loss_fn.named_parameters(prefix="loss")]
        bad = next((n for n, p in named if not torch.isfinite(p).all()), None)
        if bad is not None:  # a finite loss can still leave inf/NaN weights (e.g. an overflowing lr)
            status, error = "diverged", f"parameter {bad!r} is not finite after {step} steps"
    wall = time.perf_counter() - start
    result = FitResult(status, step / steps_per_epoch, step, epoch_loss, wall_s=wall,
                       images_per_s=seen / max(wall, 1e-9), error=error)
    if status == "ok":
        for name, ev in (evals or {}).items():
            result.metrics[name] = evaluate(model, ev, device, channels_last)
    return result


@dataclass
class StudentRun:
    """What one training of one student produced."""

    arch: str
    loss: str
    seed: int
    status: str
    metrics: dict[str, float]
    params: int
    wall_s: float
    images_per_s: float
    checkpoint: str | None = None
    error: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def loss_uses(spec: str, name: str) -> bool:
    return any(n == name for _, n in parse_loss_spec(spec))


def check_teacher_for_loss(spec: str, teacher, where: str = "--loss") -> None:  # noqa: ANN001
    """Clear errors before any training: a missing teacher, or oracle KD without an ensemble.

    `where` names the setting that chose the loss (a CLI flag or a config key), so the hint
    says what to change in the user's own terms."""
    loss = build_loss(spec)
    if loss.needs_teacher and teacher is None:
        raise DistillnasError(f"loss {spec!r} distils from a teacher: give one with --teacher (or set {where} ce)"
                              if where.startswith("--") else
                              f"{where}={spec!r} distils from a teacher: set teacher.spec (or {where}=ce)")
    if teacher is not None and loss_uses(spec, "od") and teacher.num_members < 2:
        fix = f"{where} kd" if where.startswith("--") else f"{where}=kd"
        raise DistillnasError(f"loss 'od' (oracle KD) needs an ensemble teacher of 2 or more members; "
                              f"{teacher.name!r} has {teacher.num_members}. Use {fix} for a single teacher")


def make_targets(teacher, ds: ImageDataset, split: str, indices: torch.Tensor, cfg: TrainConfig,  # noqa: ANN001
                 cache, features: bool, seed: int) -> tuple[Targets, str, object]:
    """(targets for a batch, the loader's augment mode, its view table) for one training split."""
    if cfg.augment == "random":
        return (lambda b: teacher.outputs(b.x, indices[b.pos], features)), "random", None
    views = make_views(len(indices), cfg.teacher_views if cfg.augment == "views" else 1, ds.pad, ds.flip, seed)
    outputs = cache.get(teacher, ds, split, indices, views, features)
    return (lambda b: outputs.batch(b.pos, b.view)), ("views" if cfg.augment == "views" else "none"), views


def train_student(arch: str, cfg: TrainConfig, ds: ImageDataset, splits: Splits, *, teacher=None,  # noqa: ANN001
                  cache=None, seed: int = 0, train_split: str = "train", eval_splits: tuple[str, ...] = ("test",),
                  out_dir: str | Path | None = None, run_config: dict | None = None,
                  space: dict | None = None, progress: bool = False) -> StudentRun:
    """Train `arch` on one split under cfg.loss, evaluate, and (if out_dir) save a checkpoint.

    `arch` is a man-made name, or - with `space` (a space's config) - an arch string of that
    search space; the checkpoint records both so `load_student` can rebuild it.
    """
    from .teachers import TeacherCache

    spec = cfg.loss.name
    device = resolve_device(cfg.device)
    torch.manual_seed(seed)
    arch, model = build_student(arch, space, ds)
    check_teacher_for_loss(spec, teacher)
    loss = build_loss(spec, cfg.loss.temperature, cfg.loss.kd_weight)
    indices = splits.get(train_split)
    targets, augment, views = None, ("random" if cfg.augment != "none" else "none"), None
    if loss.needs_teacher:
        features = loss.needs_features
        if features:
            t_dim = teacher.outputs(_first_images(ds, indices), indices[:2], True).features.shape[-1]
            loss = build_loss(spec, cfg.loss.temperature, cfg.loss.kd_weight, model.num_features, t_dim)
        cache = cache or TeacherCache(None, cfg.eval_batch_size, device)
        targets, augment, views = make_targets(teacher, ds, train_split, indices, cfg, cache, features,
                                               seed=10_000 + len(indices))
    cl = use_channels_last(cfg.channels_last, device, model)
    loader = TensorLoader(ds, indices, cfg.optim.batch_size, shuffle=True, augment=augment, views=views,
                          seed=seed, drop_last=len(indices) > cfg.optim.batch_size, channels_last=cl)
    evals = {s: TensorLoader(ds, splits.get(s), cfg.eval_batch_size) for s in eval_splits}
    res = fit(model, loss, loader, cfg.optim, targets=targets, evals=evals, device=device, channels_last=cl,
              progress=progress, label=f"{arch} {spec} seed {seed}")
    run = StudentRun(arch, spec, seed, res.status, res.metrics, count_params(model), res.wall_s,
                     res.images_per_s, error=res.error)
    if out_dir is not None and res.status == "ok":
        stem = arch if space is None else f"{space['name']}-{hashlib.sha1(arch.encode()).hexdigest()[:10]}"
        name = f"{stem}-{spec.replace('*', 'x').replace('+', '_')}-seed{seed}.pt"
        run.checkpoint = str(save_checkpoint(Path(out_dir) / name, model.cpu(), arch, ds.num_classes,
                                             ds.in_channels, ds.input_size, run_config or {"train": cfg.model_dump()},
                                             {**res.metrics, "status": res.status}, space=space))
    return run


def build_student(arch: str, space: dict | None, ds: ImageDataset) -> tuple[str, nn.Module]:
    """(canonical arch string, model) for a man-made name or an arch of a search space."""
    if space is None:
        arch = canonical_arch(arch)
        return arch, build_model(arch, ds.num_classes, ds.in_channels, ds.input_size)
    from .spaces import build_space

    sp = build_space(**space)
    tokens = sp.from_string(arch)
    return sp.to_string(tokens), sp.build(tokens, ds.num_classes, ds.in_channels, ds.input_size)


def _first_images(ds: ImageDataset, indices: torch.Tensor) -> torch.Tensor:
    from .data import Normalizer

    return Normalizer(ds)(ds.images[indices[:2]])
