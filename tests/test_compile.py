"""torch.compile as an option: auto compiles only long CUDA runs (never on CPU, where it
measured slower as often as faster), on compiles (and trains to what eager training reaches),
the module saved is the plain one."""
from __future__ import annotations

import shutil

import pytest
import torch

from distillnas.errors import DistillnasError
from distillnas.training import train_student
from distillnas.training.device import COMPILE_MIN_STEPS, use_compile

from conftest import quick_cfg

CPU = torch.device("cpu")
HAS_CC = any(shutil.which(c) for c in ("cc", "gcc", "clang"))


@pytest.mark.parametrize("setting,steps,device,expected", [
    ("off", 10**6, "cuda", False), ("auto", COMPILE_MIN_STEPS - 1, "cuda", False), ("auto", COMPILE_MIN_STEPS, "cuda", True),
    ("auto", 10**6, "cpu", False), ("on", 1, "cpu", HAS_CC), ("on", 1, "cuda", True)])
def test_auto_compiles_only_long_cuda_runs(setting, steps, device, expected):
    if setting == "on" and device == "cpu" and not HAS_CC:
        with pytest.raises(DistillnasError, match="needs a C compiler"):
            use_compile(setting, steps, CPU)
    else:
        assert use_compile(setting, steps, torch.device(device)) is expected


def test_without_a_c_compiler_on_is_refused_and_auto_stays_eager(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(DistillnasError, match="compile=on: torch.compile needs a C compiler"):
        use_compile("on", 10, CPU)
    assert use_compile("auto", 10**6, CPU) is False


@pytest.mark.skipif(not HAS_CC, reason="torch.compile's CPU backend needs a C compiler")
def test_a_compiled_training_learns_like_the_eager_one_and_saves_the_plain_module(synth, tmp_path):
    import torch._dynamo

    ds, sp = synth
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    eager = train_student("resnet8-w0.25", quick_cfg(compile="off", optim={"epochs": 1}), ds, sp, seed=0)
    compiled = train_student("resnet8-w0.25", quick_cfg(compile="on", optim={"epochs": 1}), ds, sp, seed=0,
                             out_dir=tmp_path)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # it did compile
    assert compiled.status == eager.status == "ok"
    key = next(iter(eager.metrics))
    assert abs(compiled.metrics[key] - eager.metrics[key]) <= 0.1, (compiled.metrics, eager.metrics)  # up to rounding
    saved = torch.load(next(tmp_path.glob("*.pt")), weights_only=True)
    assert not any("_orig_mod" in k for k in saved["state_dict"])
