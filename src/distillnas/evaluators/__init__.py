"""Evaluators, chosen by name (`EVALUATORS`): proxy (AKD), table (tabular benchmarks) and
supernet (KDAS weight sharing) and zerocost (training-free scores); each module registers itself and defines its config section."""
from __future__ import annotations

from .base import (EVALUATORS, EvalContext, Evaluator, EvaluatorSection, TrialResult, evaluate_trial, measure_costs,
                   prime_state)
from .config import EvaluatorConfig
from .proxy import ProxyConfig, ProxyEvaluator, ProxyEvaluatorConfig
from .supernet import SupernetConfig, SupernetEvaluator, SupernetEvaluatorConfig
from .table import TableEvaluator, TableEvaluatorConfig, read_table
from .zerocost import ZeroCostConfig, ZeroCostEvaluator, ZeroCostEvaluatorConfig

__all__ = ["EVALUATORS", "EvalContext", "Evaluator", "EvaluatorConfig", "EvaluatorSection", "ProxyConfig",
           "ProxyEvaluator", "ProxyEvaluatorConfig", "SupernetConfig", "SupernetEvaluator", "SupernetEvaluatorConfig",
           "TableEvaluator", "TableEvaluatorConfig", "TrialResult", "ZeroCostConfig", "ZeroCostEvaluator",
           "ZeroCostEvaluatorConfig", "evaluate_trial", "measure_costs", "prime_state", "read_table"]
