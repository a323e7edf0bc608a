"""Latency of the deployed graph: the model exported to ONNX and run by onnxruntime on one
pinned thread at batch 1, beside the PyTorch measurer (same warm-up, repeats and statistics)."""
from __future__ import annotations

import io
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ..errors import DistillnasError
from .latency import MEASURERS, Latency, single_core

OPSET = 17


def onnx_bytes(model: nn.Module, input_shape: tuple[int, ...]) -> bytes:
    """The model as ONNX (batch dimension dynamic). The TorchScript-based exporter takes about
    a second where the dynamo one took 24 s on these small models; its deprecation warnings
    are silenced here, and the dynamo exporter is the fallback once it is gone."""
    buf = io.BytesIO()
    x = torch.zeros(input_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model.eval(), (x,), buf, dynamo=False, opset_version=OPSET, input_names=["input"],
                              output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        except (TypeError, RuntimeError) as e:
            if "dynamo" not in str(e):
                raise
            buf = io.BytesIO(torch.onnx.export(model.eval(), (x,), dynamo=True).model_proto.SerializeToString())
    return buf.getvalue()


def onnx_session(model: bytes | str | Path, threads: int = 1) -> Any:
    """An onnxruntime CPU session with `threads` intra-op threads and sequential execution."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise DistillnasError("ONNX needs onnxruntime: pip install 'distillnas[onnx]'") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(model if isinstance(model, bytes) else str(model), opts,
                                providers=["CPUExecutionProvider"])




def time_onnxruntime(model: nn.Module, input_shape: tuple[int, ...], warmup: int = 5, repeats: int = 20) -> Latency:
    """Median and IQR (ms) of onnxruntime runs of the exported model, 1 thread, batch 1."""
    session = onnx_session(onnx_bytes(model, input_shape), threads=1)
    x = {"input": np.random.default_rng(0).standard_normal(input_shape, dtype=np.float32)}
    times = []
    with single_core():
        for i in range(warmup + repeats):
            t = time.perf_counter()
            session.run(None, x)
            if i >= warmup:
                times.append((time.perf_counter() - t) * 1000.0)
    q1, q3 = (statistics.quantiles(times, n=4)[::2] if len(times) > 1 else (times[0], times[0]))
    return Latency(statistics.median(times), q3 - q1)


MEASURERS.register("onnxruntime", 'latency of the exported ONNX model under onnxruntime')(lambda warmup=5, repeats=20: (
    lambda m, shape: time_onnxruntime(m, shape, warmup, repeats)))
