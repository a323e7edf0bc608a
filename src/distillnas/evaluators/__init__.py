"""Evaluators, chosen by name (`EVALUATORS`): proxy (AKD), table (tabular benchmarks) and
supernet (KDAS weight sharing) and zerocost (training-free scores); each module registers itself;
their config sections live in distillnas.evalconfig (torch-free)."""
from __future__ import annotations

from ..evalconfig import (EvaluatorConfig, EvaluatorSection, ProxyConfig, ProxyEvaluatorConfig, SupernetConfig,
                          SupernetEvaluatorConfig, TableEvaluatorConfig, ZeroCostConfig, ZeroCostEvaluatorConfig)
from .base import EVALUATORS, EvalContext, Evaluator, TrialResult, evaluate_trial, measure_costs, prime_state
from .proxy import ProxyEvaluator
from .supernet import SupernetEvaluator
from .table import TableEvaluator, read_table
from .zerocost import ZeroCostEvaluator

__all__ = ["EVALUATORS", "EvalContext", "Evaluator", "EvaluatorConfig", "EvaluatorSection", "ProxyConfig",
           "ProxyEvaluator", "ProxyEvaluatorConfig", "SupernetConfig", "SupernetEvaluator", "SupernetEvaluatorConfig",
           "TableEvaluator", "TableEvaluatorConfig", "TrialResult", "ZeroCostConfig", "ZeroCostEvaluator",
           "ZeroCostEvaluatorConfig", "evaluate_trial", "measure_costs", "prime_state", "read_table"]
