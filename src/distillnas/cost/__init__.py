"""What a student costs: parameters, MACs and measured latency."""
from .count import count_macs, count_params
from .latency import (MEASURERS, CostConfig, Latency, LatencyCache, idle_core, measure_cpu_latency,
                      measure_cpu_latency_stats, single_core)
from .onnx import onnx_bytes, onnx_session, time_onnxruntime

__all__ = ["CostConfig", "Latency", "LatencyCache", "idle_core", "measure_cpu_latency_stats", "MEASURERS", "count_macs",
           "count_params", "measure_cpu_latency", "onnx_bytes", "onnx_session", "single_core", "time_onnxruntime"]
