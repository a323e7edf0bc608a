"""Analysis of runs and teachers: metrics, figures and the HTML report (store and caches only)."""
from .metrics import distribution_matrices, gains_by_stage, kendall_tau, option_difference, pareto_front, pca
from .report import ablation_grid, build_report
from .runs import RunData, check_same_space, load_run

__all__ = ["RunData", "ablation_grid", "build_report", "check_same_space", "distribution_matrices",
           "gains_by_stage", "kendall_tau", "load_run", "option_difference", "pareto_front", "pca"]
