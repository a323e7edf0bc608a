"""The training loop shared by proxy runs, final runs, teachers and the KDAS supernet.

`fit`: SGD + Nesterov, weight decay, linear warm-up, cosine or step decay, autocast in the
run's precision (distillnas.precision), and
NaN/inf detection that ends the run with status 'diverged'. `Stepper` is one optimiser step
with those checks, so the supernet's shared-weight training takes the same step.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn as nn

from ..recipe import OptimConfig
from .distributed import average_gradients, ranks
from ..precision import FP32, Precision
from ..data import Batch, TensorLoader
from ..distill import TeacherOutput
from ..models.layout import channels_last_hazard
from ..progress import progress_bar

Targets = Callable[[Batch], TeacherOutput]
# An extra training term computed from the model and the batch itself (BSS's adversarial
# samples): extra(model, x, y, share of the run done) -> scalar loss.
Extra = Callable[[nn.Module, torch.Tensor, torch.Tensor, float], torch.Tensor]


def lr_lambda(cfg: OptimConfig, steps_per_epoch: int, horizon: float | None = None,
              restarts: tuple[float, ...] = ()) -> Callable[[int], float]:
    """Multiplier of the base lr at optimizer step `step` (warm-up, then cosine / step), over a
    schedule of `horizon` epochs (default cfg.epochs). A run stopped before its horizon is the
    prefix of the longer run, which is what lets multi-fidelity training continue it.

    `restarts` (epochs, cosine only): the cosine ends at each of them and starts again from the
    base lr (SGDR's warm restarts, Loshchilov & Hutter, ICLR 2017), so a run stopped at a
    restart has an annealed model - a multi-fidelity rung scored there is not read at a high
    lr. The warm-up belongs to the first segment only."""
    total = max(1, math.ceil((horizon or cfg.epochs) * steps_per_epoch))
    warm = int(cfg.warmup_epochs * steps_per_epoch)
    milestones = [int(m * total) for m in cfg.milestones]
    ends = sorted({min(total, max(1, round(r * steps_per_epoch))) for r in restarts} | {total})

    def f(step: int) -> float:
        if step < warm:
            return cfg.warmup_start + (1.0 - cfg.warmup_start) * step / warm
        if cfg.schedule == "cosine":
            # a restart at e starts a segment; past the horizon the last segment stays ended
            start = max([e for e in ends if e <= step and e < total] + [0])
            end = next((e for e in ends if e > step), total)
            start = max(start, warm)  # the first segment's cosine begins after the warm-up
            progress = (step - start) / max(1, end - start)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        if cfg.schedule == "step":
            return cfg.gamma ** sum(step >= m for m in milestones)
        return 1.0

    return f


@dataclass
class FitResult:
    """What `fit` returns: status, epochs and steps done, loss, metrics, speed and optional state."""
    status: str  # ok | diverged
    epochs: float
    steps: int
    loss: float  # mean training loss of the last epoch
    metrics: dict[str, float] = field(default_factory=dict)  # top-1 per evaluated split
    wall_s: float = 0.0
    images_per_s: float = 0.0
    error: str = ""
    state: dict | None = None  # with keep_state: what `fit(resume=...)` continues from


class Stepper:
    """One optimiser step: the loss under the run's autocast precision (distillnas.precision: bf16 on
    CPUs with native bf16 and on CUDA, fp16 with a grad scaler on CUDA without bf16), a
    non-finite loss or an overflowing update refused, optional gradient clipping. `fit` and the supernet's shared-weight training both step with it. In a
    process group (distributed.py) the gradients are averaged over ranks and a step is refused
    on every rank when the loss is non-finite on any."""

    def __init__(self, opt: torch.optim.Optimizer, device: torch.device, grad_clip: float | None = None,
                 precision: Precision = FP32) -> None:
        self.opt, self.device, self.grad_clip, self.precision = opt, device, grad_clip, precision
        self.world = ranks().world
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision.scaled)

    def step(self, compute_loss: Callable[[], torch.Tensor]) -> tuple[float, str]:
        """(loss, '') after a step, or (nan, why) when no step was taken because it diverged."""
        with self.precision.autocast(self.device):
            loss = compute_loss()
        if not self._finite_everywhere(loss):
            return float("nan"), f"loss became {loss.item()}" + ("" if self.world == 1 else " on some rank")
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        average_gradients([p for g in self.opt.param_groups for p in g["params"]], self.world)
        if self.grad_clip is not None:
            self.scaler.unscale_(self.opt)
            params = [p for g in self.opt.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        try:
            self.scaler.step(self.opt)
        except RuntimeError as e:  # an lr beyond float32 range: torch refuses the update
            if "overflow" not in str(e):
                raise
            return float("nan"), f"the update overflowed: {str(e)[:120]}"
        self.scaler.update()
        return loss.item(), ""

    def _finite_everywhere(self, loss: torch.Tensor) -> bool:
        finite = bool(torch.isfinite(loss))
        if self.world == 1:
            return finite
        flag = torch.tensor([0.0 if finite else 1.0], device=loss.device)
        torch.distributed.all_reduce(flag)
        return flag.item() == 0.0


def _loss(model: nn.Module, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor,
          t: TeacherOutput | None) -> torch.Tensor:
    """The loss of one batch; the student's features only when the loss reads them."""
    if getattr(loss_fn, "needs_features", False):
        feats = model.forward_features(x)
        return loss_fn(model.classifier(feats).float(), y, t, feats.float())
    return loss_fn(model(x).float(), y, t, None)


@torch.no_grad()
def evaluate(model: nn.Module, loader: TensorLoader, device: torch.device, channels_last: bool = False,
             precision: Precision = FP32) -> float:
    """Top-1 accuracy of `model` over a loader (in the training's precision: what it deploys as)."""
    model.eval()
    right = 0
    for b in loader:
        x = b.x.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
        with precision.autocast(device):
            right += (model(x).argmax(-1).cpu() == b.y).sum().item()
    return right / max(1, loader.num_examples)


@torch.no_grad()
def recalibrated(model: nn.Module, loader: TensorLoader, batches: int, device: torch.device,
                 channels_last: bool = False, precision: Precision = FP32) -> nn.Module:
    """A copy of `model` whose batch-norm running statistics are re-estimated as the plain mean
    over its first `batches` training batches; the weights and `model` itself are untouched.

    Why: a run stopped early, at a high lr, carries running statistics (an exponential average,
    momentum 0.1) that lag weights still moving fast, so its eval-mode score mixes how good the
    weights are with how stale the statistics are. Re-estimating them is what one-shot NAS does
    before scoring a sub-network (Guo et al., "Single Path One-Shot NAS", ECCV 2020, recompute
    the BN statistics on a training subset; Cai et al., "Once-for-All", ICLR 2020). It costs
    `batches` forward passes without gradients."""
    copied = copy.deepcopy(model)
    norms = [m for m in copied.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms or batches <= 0:
        return copied
    for m in norms:
        m.reset_running_stats()
    copied.train()
    for i, b in enumerate(loader):
        if i >= batches:
            break
        for m in norms:  # 1/(i+1): the cumulative mean of the batches' statistics
            m.momentum = 1.0 / (i + 1)
        x = b.x.to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        with precision.autocast(device):
            copied(x)
    copied.eval()
    return copied


def _first_bad_parameter(model: nn.Module, loss_fn: nn.Module) -> str | None:
    named = [*model.named_parameters(), *loss_fn.named_parameters(prefix="loss")]
    return next((n for n, p in named if not torch.isfinite(p).all()), None)


def _inputs(b: Batch, device: torch.device, channels_last: bool,
            targets: Targets | None) -> tuple[torch.Tensor, torch.Tensor, TeacherOutput | None]:
    x = b.x.to(device, non_blocking=True, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    t = targets(b) if targets is not None else None
    if t is not None:
        t = TeacherOutput(t.logits.to(device), None if t.features is None else t.features.to(device))
    return x, b.y.to(device, non_blocking=True), t


def _restore(resume: dict, model: nn.Module, opt: torch.optim.Optimizer, sched: Any, loader: TensorLoader) -> int:
    """Continue a saved run: weights, optimiser (its lr included), loader RNG; returns the step."""
    model.load_state_dict(resume["model"])
    opt.load_state_dict(resume["opt"])
    loader.gen.set_state(resume["gen"])
    sched.last_epoch = int(resume["step"])  # the optimiser's state already holds the lr of that step
    return int(resume["step"])


def _snapshot(model: nn.Module, opt: torch.optim.Optimizer, loader: TensorLoader, step: int) -> dict:
    return {"model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            "opt": opt.state_dict(), "gen": loader.gen.get_state(), "step": step}


def fit(model: nn.Module, loss_fn: nn.Module, loader: TensorLoader, cfg: OptimConfig, *,
        targets: Targets | None = None, evals: dict[str, TensorLoader] | None = None,
        device: torch.device = torch.device("cpu"), channels_last: bool = False,
        progress: bool = False, label: str = "train", horizon: float | None = None,
        restarts: tuple[float, ...] = (), resume: dict | None = None, keep_state: bool = False,
        extra: Extra | None = None, precision: Precision = FP32, compiled: bool = False,
        recalibrate: int = 0) -> FitResult:
    """Train `model` for cfg.epochs (fractions allowed) and evaluate it on `evals`.

    Multi-fidelity: the lr schedule spans `horizon` epochs (default cfg.epochs), its cosine
    restarting at the epochs `restarts` (lr_lambda); `keep_state`
    returns the model, optimiser, step and the loader's random state, and `resume` (such a
    state, of a run with the same horizon) continues it - bit for bit the run that trained to
    cfg.epochs at once, when the stop falls on an epoch boundary. `compiled`: the forward runs
    through torch.compile (the module itself is what is evaluated and saved). `recalibrate` > 0
    scores `evals` on a copy whose batch-norm statistics are re-estimated on that many training
    batches (`recalibrated`); the model, its saved state and any continuation are unchanged."""
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
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg, steps_per_epoch, horizon, restarts))
    total = max(1, math.ceil(cfg.epochs * steps_per_epoch))
    stepper = Stepper(opt, device, precision=precision)
    forward = torch.compile(model) if compiled and not getattr(loss_fn, "needs_features", False) else model
    step = _restore(resume, model, opt, sched, loader) if resume is not None else 0
    seen, status, error, epoch_loss = 0, "ok", "", float("nan")
    start = time.perf_counter()
    with progress_bar(progress and ranks().lead, label, total, step) as bar:
        while step < total and status == "ok":
            model.train()
            losses = []
            for b in loader:
                if step >= total:
                    break
                x, y, t = _inputs(b, device, channels_last, targets)
                done = step / max(1, math.ceil((horizon or cfg.epochs) * steps_per_epoch))
                loss, problem = stepper.step(lambda: _loss(forward, loss_fn, x, y, t)
                                             + (extra(model, x, y, done) if extra is not None else 0.0))
                if problem:
                    status, error = "diverged", f"{problem} at step {step + 1} (epoch {step / steps_per_epoch:.2f})"
                    break
                sched.step()
                step, seen = step + 1, seen + len(y)
                losses.append(loss)
                bar.advance(loss=losses[-1])
            epoch_loss = sum(losses) / max(1, len(losses))
    bad = _first_bad_parameter(model, loss_fn) if status == "ok" else None
    if bad is not None:  # a finite loss can still leave inf/NaN weights (e.g. an overflowing lr)
        status, error = "diverged", f"parameter {bad!r} is not finite after {step} steps"
    wall = time.perf_counter() - start
    result = FitResult(status, step / steps_per_epoch, step, epoch_loss, wall_s=wall,
                       images_per_s=seen / max(wall, 1e-9), error=error)
    if status == "ok":
        result.state = _snapshot(model, opt, loader, step) if keep_state else None
        scored = recalibrated(model, loader, recalibrate, device, channels_last, precision) \
            if recalibrate and evals else model
        for name, ev in (evals or {}).items():
            result.metrics[name] = evaluate(scored, ev, device, channels_last, precision)
    return result
