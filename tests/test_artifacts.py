"""Shipped artifacts by name: cards, verified digests, and the teacher they claim to be."""
import json
import shutil
from pathlib import Path

import pytest

import distillnas.shipped as shipped
from distillnas.catalog import list_names
from distillnas.checkpoint import load_student
from distillnas.data import prepare_data
from distillnas.config import DataConfig
from distillnas.errors import DistillnasError
from distillnas.teachers import evaluate_teacher, load_teacher


def test_every_shipped_artifact_is_listed_and_verifies():
    names = {n for n, _ in list_names("artifacts")}
    assert {"fmnist12k-resnet8x3", "mnist5k-resnet8x3", "fmnist-resnet20x3", "fmnist-100k"} <= names
    for a in shipped.shipped().values():
        assert len(a.paths()) == len(a.files) and a.card.get("licence") and a.card.get("accuracy")


def test_the_shipped_fmnist12k_teacher_scores_what_its_card_says():
    ds, splits = prepare_data(DataConfig(name="fmnist12k"))
    report = evaluate_teacher(load_teacher("fmnist12k-resnet8x3", ds), ds, "test", splits.test)
    assert [round(100 * m, 2) for m in report.members] == [84.45, 85.25, 82.35]
    assert round(100 * report.average, 2) == 84.95


FMNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not (FMNIST / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
def test_the_shipped_fmnist_teacher_scores_what_its_card_says_on_the_official_test_set():
    ds, splits = prepare_data(DataConfig(name="fashion_mnist"))
    report = evaluate_teacher(load_teacher("fmnist-resnet20x3", ds), ds, "test", splits.test)
    assert [round(100 * m, 2) for m in report.members] == [94.36, 94.43, 94.33]
    assert round(100 * report.average, 2) == 94.84 and round(100 * report.oracle, 2) == 96.65


@pytest.mark.skipif(not (FMNIST / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
def test_the_shipped_searched_student_scores_what_its_card_says_by_name(capsys, tmp_path):
    """`fmnist-100k` (issue 41's showcase pick) is found by name and scores its card on the official test set."""
    from test_cli import run

    card = shipped.shipped()["fmnist-100k"].card
    model, meta = load_student("fmnist-100k")
    assert meta["arch"] == card["arch"] and f"{sum(p.numel() for p in model.parameters()):,}" == card["params"]
    code, out, _ = run(capsys, "evaluate", "fmnist-100k", "--no-latency", "--json", str(tmp_path / "e.json"))
    assert code == 0 and f"arch: {card['arch']}" in out.replace("\n", "")
    e = json.loads((tmp_path / "e.json").read_text())
    assert round(100 * e["top1"], 2) == 94.37 and e["examples"] == 10_000 and "94.37 %" in card["accuracy"]
    assert e["params"] <= 100_000


def _copy(tmp_path, monkeypatch):
    root = tmp_path / "artifacts"
    shutil.copytree(shipped.artifacts_root() / "fmnist12k-resnet8x3", root / "fmnist12k-resnet8x3")
    monkeypatch.setattr(shipped, "artifacts_root", lambda: root)
    return root / "fmnist12k-resnet8x3"


def test_an_altered_or_missing_file_is_one_clear_error(tmp_path, monkeypatch):
    folder = _copy(tmp_path, monkeypatch)
    with open(folder / "resnet8-ce-seed1.pt", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    with pytest.raises(DistillnasError, match="resnet8-ce-seed1.pt' was altered"):
        shipped.artifact_paths("fmnist12k-resnet8x3")
    (folder / "resnet8-ce-seed1.pt").unlink()
    with pytest.raises(DistillnasError, match="is missing; reinstall"):
        shipped.artifact_paths("fmnist12k-resnet8x3", "teacher")


def test_names_are_checked_for_kind_and_for_single_checkpoints():
    with pytest.raises(DistillnasError, match="is a teacher, not a student"):
        shipped.artifact_paths("fmnist12k-resnet8x3", "student")
    with pytest.raises(DistillnasError, match="holds 3 checkpoints"):
        load_student("fmnist12k-resnet8x3")
    with pytest.raises(DistillnasError, match="no shipped artifact 'fmnist12k-resnet8'.*did you mean"):
        shipped.artifact_paths("fmnist12k-resnet8")
