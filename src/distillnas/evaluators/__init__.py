"""Evaluators, chosen by name (`EVALUATORS`): proxy (AKD), table (tabular benchmarks) and
supernet (KDAS weight sharing); each module registers itself and defines its config section."""
from __future__ import annotations

from .base import (EVALUATORS, EvalContext, Evaluator, EvaluatorSection, TrialResult, evaluate_trial, measure_costs,
                   prime_state)
from .config import EvaluatorConfig
from .proxy import ProxyConfig, ProxyEvaluator, ProxyEvaluatorConfig
from .supernet import SupernetConfig, SupernetEvaluator, SupernetEvaluatorConfig
from .table import TableEvaluator, TableEvaluatorConfig, read_table

__all__ = ["EVALUATORS", "EvalContext", "Evaluator", "EvaluatorConfig", "EvaluatorSection", "ProxyConfig",
           "ProxyEvaluator", "ProxyEvaluatorConfig", "SupernetConfig", "SupernetEvaluator", "SupernetEvaluatorConfig",
           "TableEvaluator", "TableEvaluatorConfig", "TrialResult", "evaluate_trial", "measure_costs", "prime_state",
           "read_table"]
