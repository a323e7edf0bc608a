"""What a student costs: parameters, MACs and measured latency."""
from .count import count_macs, count_params
from .latency import MEASURERS, CostConfig, LatencyCache, measure_cpu_latency, single_core

__all__ = ["CostConfig", "LatencyCache", "MEASURERS", "count_macs", "count_params", "measure_cpu_latency",
           "single_core"]
