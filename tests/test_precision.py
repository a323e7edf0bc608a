"""Training precision: CPU bf16 detection, what each setting resolves to, and bf16 training."""
from __future__ import annotations

import json

import pytest
import torch

from distillnas.checkpoint import read_checkpoint
from distillnas.errors import DistillnasError
from distillnas.precision import FP32, cpu_has_native_bf16, resolve_precision
from distillnas.training import train_student
from distillnas.training.loop import fit

from conftest import quick_cfg

CPU = torch.device("cpu")


@pytest.mark.parametrize("flags,native", [("fpu sse avx2 avx512f avx512_bf16 avx512_vnni", True),
                                          ("fpu sse avx2 avx512f amx_tile amx_bf16", True),
                                          ("fpu sse avx2 avx512f avx512_vnni", False),
                                          ("", False)])
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, flags, native):
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: {flags}\n\n")
    assert cpu_has_native_bf16.__wrapped__(str(info)) is native
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n")
    assert cpu_has_native_bf16.__wrapped__(str(arm)) is True
    assert cpu_has_native_bf16.__wrapped__(str(tmp_path / "missing")) is False  # no flags published: say no


@pytest.mark.parametrize("native,pays,expected", [(True, True, "bf16"), (True, False, "fp32"), (False, True, "fp32")])
def test_auto_is_bf16_only_where_the_cpu_has_it_and_it_pays(monkeypatch, native, pays, expected):
    import distillnas.precision as prec

    monkeypatch.setattr(prec, "bf16_pays_on_cpu", lambda: pays)
    assert resolve_precision("auto", CPU, native_bf16=native).name == expected  # nothing changes without bf16
    assert resolve_precision("bf16", CPU, native_bf16=native).dtype == torch.bfloat16  # asked for: always
    assert resolve_precision("fp32", CPU, native_bf16=native) is FP32
    with pytest.raises(DistillnasError, match="precision fp16 is for CUDA"):
        resolve_precision("fp16", CPU)


def test_the_calibration_runs_once_per_machine_and_is_cached(monkeypatch, tmp_path):
    import distillnas.precision as prec

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("DISTILLNAS_CPU_BF16")
    calls = []
    monkeypatch.setattr(prec, "calibrate_cpu_bf16", lambda: calls.append(1) or 1.5)
    prec.bf16_pays_on_cpu.cache_clear()
    try:
        assert prec.bf16_pays_on_cpu() is True
        prec.bf16_pays_on_cpu.cache_clear()
        assert prec.bf16_pays_on_cpu() is True and calls == [1]  # the second process reads the verdict
        assert json.loads((tmp_path / "distillnas" / "precision.json").read_text())[prec._cpu_key()]["speedup"] == 1.5
    finally:
        prec.bf16_pays_on_cpu.cache_clear()


def test_the_verdict_can_be_forced_by_the_environment(monkeypatch):
    import distillnas.precision as prec

    for value, expected in (("1", True), ("0", False)):
        monkeypatch.setenv("DISTILLNAS_CPU_BF16", value)
        prec.bf16_pays_on_cpu.cache_clear()
        assert prec.bf16_pays_on_cpu() is expected
    prec.bf16_pays_on_cpu.cache_clear()


def test_the_calibration_measures_a_positive_speed_ratio():
    import distillnas.precision as prec

    assert 0.05 < prec.calibrate_cpu_bf16(steps=1) < 20


def test_a_tiny_model_trains_under_bf16_with_fp32_weights_and_a_falling_loss(synth):
    from distillnas.data import TensorLoader
    from distillnas.distill import build_loss
    from distillnas.models import build_model

    ds, sp = synth
    torch.manual_seed(0)
    model = build_model("resnet8-w0.25", ds.num_classes, ds.in_channels, ds.input_size)
    loader = TensorLoader(ds, sp.minitrain, 32, shuffle=True, augment="random", seed=0, drop_last=True)
    cfg = quick_cfg(optim={"epochs": 1}).optim
    first = fit(model, build_loss("ce"), loader, cfg.model_copy(update={"epochs": 0.2}),
                precision=resolve_precision("bf16", CPU))
    later = fit(model, build_loss("ce"), loader, cfg.model_copy(update={"epochs": 3, "lr": 0.05}),
                precision=resolve_precision("bf16", CPU))
    assert first.status == later.status == "ok" and later.loss < first.loss
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in model.parameters())
    assert all(b.dtype == torch.float32 for n, b in model.named_buffers() if "running" in n)


def test_the_precision_a_student_trained_in_is_recorded_in_its_checkpoint(synth, tmp_path):
    ds, sp = synth
    run = train_student("resnet8-w0.25", quick_cfg(precision="bf16", optim={"epochs": 0.3}), ds, sp,
                        train_split="minitrain", eval_splits=("minival",), out_dir=tmp_path)
    ckpt = read_checkpoint(run.checkpoint)
    assert run.status == "ok" and ckpt["config"]["precision"] == "bf16" and ckpt["config"]["train"]["precision"] == "bf16"


def test_depthwise_convs_compute_in_fp32_under_cpu_bf16_and_keep_a_conv2d_state_dict():
    """Why: oneDNN's bf16 depthwise kernels are several times slower than fp32 on CPU
    (bench/depthwise_precision.py); the rule must leave dense convs in bf16 and change no
    checkpoint."""
    from distillnas.models.blocks import DepthwiseConv2d, conv2d

    torch.manual_seed(0)
    dw, dense = conv2d(8, 8, 5, 2, groups=8), conv2d(8, 8, 3)
    assert isinstance(dw, DepthwiseConv2d) and type(dense) is torch.nn.Conv2d
    plain = torch.nn.Conv2d(8, 8, 5, 2, 2, groups=8, bias=False)
    plain.load_state_dict(dw.state_dict())  # the same keys and shapes as a Conv2d
    x = torch.randn(4, 8, 12, 12, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, yd = dw(x), dense(x)
    assert y.dtype == torch.float32 and yd.dtype == torch.bfloat16
    ref = plain(x)
    assert torch.allclose(y, ref, atol=1e-5)  # float32 numerics, not bf16's ~1e-2
    y.sum().backward()
    g = x.grad.clone()
    x.grad = None
    ref.sum().backward()
    assert torch.allclose(g, x.grad, atol=1e-5) and dw(x).dtype == torch.float32
    # a MnasNet student's depthwise layers are all of this kind
    from distillnas.models import build_model

    model = build_model("mobilenetv2-w0.25", 10, 1, 28)
    depthwise = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert depthwise and all(isinstance(m, DepthwiseConv2d) for m in depthwise)
