"""`distillnas evaluate`: a checkpoint scored with the preprocessing it recorded."""
from __future__ import annotations

import json

import pytest

from distillnas.checkpoint import read_checkpoint
from distillnas.evaluate import evaluate_checkpoint
from distillnas.training import train_student

from conftest import quick_cfg
from test_cli import run


@pytest.fixture(scope="module")
def student(synth, tmp_path_factory):
    ds, sp = synth
    out = tmp_path_factory.mktemp("student")
    r = train_student("resnet8-w0.25", quick_cfg(optim={"epochs": 2}), ds, sp, train_split="train",
                      eval_splits=("test",), out_dir=out, run_config={"data": {"name": "synthetic"}})
    return r


def test_evaluate_reproduces_the_recorded_test_accuracy_with_per_class_and_costs(student):
    ckpt = read_checkpoint(student.checkpoint)
    assert ckpt["preprocessing"] == {"dataset": "synthetic", "channels": 3, "size": 16, "mean": [0.5] * 3,
                                     "std": [0.25] * 3}
    e = evaluate_checkpoint(student.checkpoint)  # the dataset comes from the checkpoint
    assert e.dataset == "synthetic" and e.split == "test" and e.examples == 120
    assert e.top1 == pytest.approx(student.metrics["test"], abs=1e-6)
    assert len(e.per_class) == 10 and min(e.per_class) >= 0 and e.params == student.params and e.macs > 0
    assert e.latency_ms is not None and e.latency_ms > 0
    assert sum(e.per_class) / 10 == pytest.approx(e.top1, abs=0.05)  # balanced classes


def test_evaluate_in_the_recorded_precision_reproduces_a_bf16_trainings_score(synth, tmp_path):
    """Training scores in its precision; `recorded` scores there too (fp32, the default, is portable)."""
    ds, sp = synth
    r = train_student("resnet8-w0.25", quick_cfg(optim={"epochs": 1}, precision="bf16"), ds, sp, train_split="train",
                      eval_splits=("test",), out_dir=tmp_path, run_config={"data": {"name": "synthetic"}})
    assert read_checkpoint(r.checkpoint)["config"]["precision"] == "bf16"
    recorded = evaluate_checkpoint(r.checkpoint, latency=False, precision="recorded")
    assert recorded.precision == "bf16" and recorded.top1 == pytest.approx(r.metrics["test"], abs=1e-6)
    assert evaluate_checkpoint(r.checkpoint, latency=False).precision == "fp32"


def test_evaluate_cli_prints_and_writes_json(student, capsys, tmp_path):
    code, out, err = run(capsys, "evaluate", student.checkpoint, "--no-latency", "--json", str(tmp_path / "e.json"))
    assert code == 0, err
    assert "top-1 (%)" in out and "per class (%)" in out and "(x/255 - [0.5, 0.5, 0.5]) / [0.25, 0.25, 0.25]" in out
    assert "scored in fp32" in out
    written = json.loads((tmp_path / "e.json").read_text())
    assert written["latency_ms"] is None and written["precision"] == "fp32"


@pytest.mark.parametrize("args,says", [
    (["--dataset", "mnist5k"], "takes 3 channels but dataset 'mnist5k' has 1"),
    (["--split", "dev"], "unknown split 'dev'"),
    (["--split", "holdout"], "split 'holdout' holds no images for 'synthetic'"),  # trained without a subset
    (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (["--precision", "fp8"], "unknown precision 'fp8'; choose one of: fp32, recorded, bf16"),
])
def test_evaluate_refuses_a_dataset_that_does_not_fit(student, capsys, tmp_path, args, says):
    code, _, err = run(capsys, "evaluate", student.checkpoint, "--no-latency", *args,
                       "--json", str(tmp_path / "out" / "e.json"))
    assert code == 2 and says in err and err.count("\n") == 1 and not (tmp_path / "out").exists()


def test_evaluate_refuses_what_is_not_a_checkpoint(capsys, tmp_path):
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"not a checkpoint")
    code, _, err = run(capsys, "evaluate", str(bad))
    assert code == 2 and "x.pt" in err and err.count("\n") == 1
