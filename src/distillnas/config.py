"""Config sections as pydantic models: every default written out, unknown keys refused."""
from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import DistillnasError, suggest

M = TypeVar("M", bound=BaseModel)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(Section):
    name: str = "mnist5k"  # a registered dataset (distillnas.data.DATASETS)
    root: str | None = None  # the user's directory for on-disk datasets (cifar*, imagefolder)
    val_fraction: float = Field(0.1, gt=0, lt=1)  # mini-val share of the training pool (KDAS: 10%)
    test_fraction: float = Field(0.2, gt=0, lt=1)  # held-out test share, only without an official test set
    train_subset: int | None = Field(None, gt=0)  # stratified sample of the training pool (AKD proxy: ~10K)
    seed: int = 0  # split seed: the same seed gives the same splits everywhere


class OptimConfig(Section):
    epochs: float = Field(30, gt=0)  # fractional epochs allowed for quick proxies
    batch_size: int = Field(128, ge=1)
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = Field(5e-4, ge=0)
    warmup_epochs: float = Field(1.0, ge=0)  # linear warm-up from warmup_start * lr to lr
    warmup_start: float = Field(0.1, ge=0, le=1)
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    milestones: list[float] = [0.5, 0.75]  # step schedule: fractions of the run where lr *= gamma
    gamma: float = Field(0.1, gt=0, le=1)


class LossConfig(Section):
    name: str = "kd"  # ce | kd | od | feature_mse, or a weighted sum such as kd+0.5*feature_mse
    temperature: float = Field(4.0, gt=0)
    kd_weight: float = Field(0.9, ge=0, le=1)  # w in (1 - w) CE + w T^2 KL


class TrainConfig(Section):
    optim: OptimConfig = OptimConfig()
    loss: LossConfig = LossConfig()
    # none: plain inputs; views: K fixed augmented views with cached teacher outputs;
    # random: fresh crops/flips every step (teacher runs online)
    augment: Literal["none", "views", "random"] = "views"
    teacher_views: int = Field(4, ge=1)  # K for augment=views (view 0 is the plain image)
    channels_last: Literal["auto", "on", "off"] = "auto"  # auto: on for CPU (measured faster)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    eval_batch_size: int = Field(500, ge=1)
    seed: int = 0


def _explain(exc: ValidationError, cls: type[BaseModel], where: str) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        model: Any = cls
        for part in err["loc"][:-1]:
            field = model.model_fields.get(str(part))
            model = field.annotation if field is not None else model
        fields = list(getattr(model, "model_fields", {}))
        key = str(err["loc"][-1])
        return f"unknown config key {where}{loc!r}{suggest(key, fields)}; allowed: {', '.join(fields)}"
    return f"bad config value {where}{loc}={err.get('input')!r}: {err['msg']}"


def validate(cls: type[M], data: dict | None, where: str = "") -> M:
    """Build a config model, turning pydantic's report into one clear line."""
    try:
        return cls.model_validate(data or {})
    except ValidationError as e:
        raise DistillnasError(_explain(e, cls, where)) from None
