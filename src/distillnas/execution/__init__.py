"""Executors, chosen by name: `local` (in process) and `ray` (a task per trial)."""
from .base import EXECUTORS, ExecutionConfig, Executor, WorkQueue, build_executor
from .local import LocalExecutor
from .ray import RayExecutor

__all__ = ["EXECUTORS", "ExecutionConfig", "Executor", "LocalExecutor", "RayExecutor", "WorkQueue",
           "build_executor"]
