"""Training-free scores of students at initialisation (DisWOT and the classic proxies)."""
from .probe import make_probe, score_model, teacher_modules
from .scores import SCORES, TEACHER_SCORES, Probe, TeacherView, check_scores, inspect

__all__ = ["SCORES", "TEACHER_SCORES", "Probe", "TeacherView", "check_scores", "inspect", "make_probe",
           "score_model", "teacher_modules"]
