"""Training: device choice, the fit loop, student training and teacher ensembles."""
from ..recipe import OptimConfig, SGDConfig, TrainConfig
from .device import resolve_device, use_channels_last
from .loop import FitResult, Stepper, Targets, evaluate, fit, lr_lambda
from .student import StudentRun, check_teacher_for_loss, loss_uses, make_targets, resolve_student, train_student
from .teachers import record_ensemble, train_teachers
from .schemes import SCHEMES, SchemeConfig, check_scheme, route_checkpoints, train_with_scheme

__all__ = ["FitResult", "OptimConfig", "SGDConfig", "TrainConfig", "Stepper", "StudentRun", "Targets", "resolve_student", "check_teacher_for_loss", "evaluate",
           "fit", "loss_uses", "lr_lambda", "make_targets", "record_ensemble", "resolve_device", "train_student",
           "train_teachers",
           "use_channels_last", "SCHEMES", "SchemeConfig", "check_scheme", "route_checkpoints", "train_with_scheme"]
