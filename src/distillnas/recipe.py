"""The training recipe's config sections, torch-free so a config can be read (the report, the
dashboard, `distillnas list`) without importing training code: the loss, one SGD section, the
optimisation schedule built on it, a training run, and a teacher-training recipe."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .section import MAX_EPOCHS, MAX_SEEDS, MAX_VIEWS, Section


class LossConfig(Section):
    # ce | kd | od | dkd | dist (logits), feature_mse | cc | rkd | pkt | sp (embeddings), or a
    # weighted sum such as kd+0.5*feature_mse or kd+1*rkd (distill/methods.py)
    """The training loss by name (`distillnas list losses`), with the distillation temperature and weight."""
    name: str = "kd"
    temperature: float = Field(4.0, gt=0)
    kd_weight: float = Field(0.9, ge=0, le=1)  # w in (1 - w) CE + w T^2 KL


class SGDConfig(Section):
    """SGD with (Nesterov) momentum: what every training in distillnas optimises with."""

    batch_size: int = Field(128, ge=1, le=65536)
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = Field(5e-4, ge=0, le=1)


class OptimConfig(SGDConfig):
    """SGD plus its length and learning-rate schedule (`fit`)."""

    epochs: float = Field(30, gt=0, le=MAX_EPOCHS)  # fractional epochs allowed for quick proxies
    warmup_epochs: float = Field(1.0, ge=0, le=MAX_EPOCHS)  # linear warm-up from warmup_start * lr to lr
    warmup_start: float = Field(0.1, ge=0, le=1)
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    milestones: list[float] = [0.5, 0.75]  # step schedule: fractions of the run where lr *= gamma
    gamma: float = Field(0.1, gt=0, le=1)


class TrainConfig(Section):
    """One training run: optimisation and schedule, loss (`distillnas list losses`),
    augmentation, layout, device and precision."""

    optim: OptimConfig = OptimConfig()
    loss: LossConfig = LossConfig()
    # none: plain inputs; views: K fixed augmented views with cached teacher outputs;
    # random: fresh crops/flips every step (teacher runs online)
    augment: Literal["none", "views", "random"] = "views"
    teacher_views: int = Field(4, ge=1, le=MAX_VIEWS)  # K for augment=views (view 0 is the plain image)
    # auto: on for CPU (measured faster); never for models whose convs hang oneDNN (models/layout.py)
    channels_last: Literal["auto", "on", "off"] = "auto"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # autocast dtype: auto = bf16 on CPUs with native bf16 and on CUDA (fp16 where CUDA lacks
    # bf16), fp32 elsewhere; weights, optimiser state and BatchNorm statistics stay fp32
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    # torch.compile the student's forward: auto = CUDA runs long enough to repay compiling
    # (training.device.COMPILE_MIN_STEPS steps; never on CPU, where it measured slower as often
    # as faster; never a short proxy), on, or off
    compile: Literal["auto", "on", "off"] = "auto"
    eval_batch_size: int = Field(500, ge=1, le=65536)
    seed: int = 0


class TeacherRecipe(Section):
    """A packaged or user recipe for `teacher train --recipe`: what ensemble to train, and how.
    Flags given on the command line win over the recipe's values."""

    arch: str = "resnet20"
    seeds: list[int] = Field([0, 1, 2, 3, 4], min_length=1, max_length=MAX_SEEDS)
    epochs: float = Field(30, gt=0, le=MAX_EPOCHS)
    save_every: float = Field(5, ge=0, le=MAX_EPOCHS)
    data: dict = {}  # a DataConfig's fields (name, root, ...), validated where the data is built
    train: dict = {}  # a TrainConfig's fields beyond epochs (optim, augment, ...), validated with them
