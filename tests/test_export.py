"""Export of student checkpoints to ONNX and TorchScript, checked on export, and the
onnxruntime latency measurer."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from distillnas.checkpoint import save_checkpoint
from distillnas.cost import MEASURERS, onnx_session
from distillnas.errors import DistillnasError
from distillnas.export import export_student
from distillnas.models import build_model
from distillnas.spaces import build_space

from test_cli import run

SPACES = [{"name": "mnasnet", "preset": "tiny", "blocks": 3}, {"name": "resnet_depth", "depths": [1, 2], "width": 0.25},
          {"name": "addon", "backbone": "resnet8-w0.25", "layers": [1, 1, 1]}]
FAMILIES = ["resnet8-w0.25", "wrn-10-1", "mobilenetv2-w0.25"]


def _busy_bn(model: torch.nn.Module) -> torch.nn.Module:
    """BatchNorm statistics away from (0, 1), so eval-mode BN is not the identity."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model


def _checkpoints(tmp_path):
    out = []
    for i, sp in enumerate(SPACES):
        space = build_space(**sp)
        tokens = space.sample(np.random.default_rng(i))
        model = _busy_bn(space.build(tokens, 10, 1, 16))
        out.append(save_checkpoint(tmp_path / f"space{i}.pt", model, space.to_string(tokens), 10, 1, 16, {},
                                   space=space.config()))
    for name in FAMILIES:
        out.append(save_checkpoint(tmp_path / f"{name}.pt", _busy_bn(build_model(name, 10, 1, 16)), name, 10, 1, 16, {}))
    return out


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_every_family_and_space_round_trips(tmp_path, fmt):
    for ckpt in _checkpoints(tmp_path):
        e = export_student(ckpt, fmt)
        assert e.path.is_file() and e.path.suffix == (".onnx" if fmt == "onnx" else ".pt")
        assert e.max_abs_diff < 1e-4, (ckpt.name, e.max_abs_diff)
        if fmt == "onnx":  # the batch dimension stays dynamic
            y = onnx_session(e.path).run(None, {"input": np.zeros((3, 1, 16, 16), np.float32)})[0]
            assert y.shape == (3, 10)
        else:
            assert torch.jit.load(str(e.path))(torch.zeros(3, 1, 16, 16)).shape == (3, 10)


def test_export_cli_and_its_refusals(tmp_path, capsys):
    ckpt = _checkpoints(tmp_path)[0]
    code, out, err = run(capsys, "export", str(ckpt), "--format", "onnx", "--out", str(tmp_path / "m.onnx"))
    assert code == 0 and "max |exported - PyTorch|" in out and (tmp_path / "m.onnx").is_file(), err
    not_ckpt = tmp_path / "weights.pt"
    torch.save({"a": torch.zeros(1)}, not_ckpt)
    for args, msg in [([str(ckpt), "--format", "tflite"], "unknown --format 'tflite'"),
                      ([str(not_ckpt)], "is not a distillnas checkpoint"),
                      ([str(tmp_path / "missing.pt")], "does not exist"),
                      ([str(ckpt), "--format", "torchscript", "--out", str(ckpt)], "would overwrite the checkpoint")]:
        code, _, err = run(capsys, "export", *args)
        assert code == 2 and msg in err and len(err.strip().splitlines()) == 1, err
    with pytest.raises(DistillnasError, match="unknown export format"):
        export_student(ckpt, "coreml")


def test_onnxruntime_latency_is_measured_like_pytorchs():
    measure = MEASURERS.build("onnxruntime", warmup=2, repeats=5)
    lat = measure(build_model("resnet8-w0.25", 10, 1, 16), (1, 1, 16, 16))
    assert math.isfinite(lat.median_ms) and lat.median_ms > 0 and lat.iqr_ms >= 0
