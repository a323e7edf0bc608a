"""Teachers (single networks, logits files, ensembles), their output cache and reports."""
from .base import Ensemble, LogitsTeacher, ModuleTeacher
from .cache import CachedOutputs, TeacherCache
from .evaluate import EnsembleReport, ensemble_report
from .load import expand_spec, load_teacher

__all__ = ["CachedOutputs", "Ensemble", "EnsembleReport", "LogitsTeacher", "ModuleTeacher", "TeacherCache",
           "ensemble_report", "expand_spec", "load_teacher"]

from .zoo import evaluate_teacher, train_teachers  # noqa: E402

__all__ += ["evaluate_teacher", "train_teachers"]
