"""Teachers (single networks, logits files, ensembles), their output cache and reports.
Training a teacher ensemble lives in `distillnas.training` (it trains students)."""
from .base import Ensemble, FlipAveraged, LogitsTeacher, ModuleTeacher, Teacher
from .cache import CachedOutputs, TeacherCache
from .evaluate import EnsembleReport, ensemble_report, evaluate_teacher
from .load import TeacherSpec, expand_spec, load_teacher

__all__ = ["CachedOutputs", "Ensemble", "EnsembleReport", "FlipAveraged", "LogitsTeacher", "ModuleTeacher", "Teacher", "TeacherCache", "TeacherSpec",
           "ensemble_report", "evaluate_teacher", "expand_spec", "load_teacher"]
