"""Open-set retrieval (AKD §6-7 in miniature): train on some classes, identify among the others."""
import numpy as np
import pytest
import torch

from distillnas.config import DataConfig
from distillnas.data import prepare_data
from distillnas.errors import DistillnasError
from distillnas.retrieval import heldout, identification


def test_restricted_classes_keep_the_full_splits_minus_the_rest():
    ds, full = prepare_data(DataConfig(name="synthetic"))
    _, part = prepare_data(DataConfig(name="synthetic", classes=[0, 1, 2]))
    for name in ("minitrain", "minival", "test"):
        a, b = full.get(name), part.get(name)
        assert set(ds.labels[b].tolist()) == {0, 1, 2} and torch.equal(b, a[ds.labels[a] <= 2])
    idx = heldout(ds, [0, 1, 2])
    assert set(ds.labels[idx].tolist()) == set(range(3, 10)) and len(idx) == int((ds.labels > 2).sum())


def test_identification_counts_a_probe_as_found_only_when_its_match_is_nearest():
    labels = torch.tensor([0, 0, 1, 1, 2, 2] * 4)
    perfect = torch.nn.functional.one_hot(labels, 3).float()  # each class its own direction
    counts, top1, probes = identification(perfect + 0.01 * torch.randn(24, 3), labels, distractors=(2, 16), seed=0)
    assert counts == [2, 16] and top1 == [1.0, 1.0] and probes == 24
    scrambled = torch.nn.functional.normalize(torch.randn(24, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    _, chance, _ = identification(scrambled, labels, distractors=(2, 16), seed=0)
    assert chance[1] < 0.5 and chance[1] <= chance[0]  # more distractors, fewer hits
    again = identification(scrambled, labels, distractors=(2, 16), seed=0)
    assert again[1] == chance  # seeded galleries


def test_cli_retrieval_trains_on_some_classes_and_reports_identification(tmp_path, capsys):
    import json

    from distillnas.cli import main

    argv = ["train", "--arch", "resnet8-w0.25", "--dataset", "synthetic", "--epochs", "2", "--loss", "ce",
            "--task", "retrieval", "--data.classes=[0,1,2,3,4,5,6]", "--out", str(tmp_path), "--no-progress"]
    try:
        main(argv)
    except SystemExit as e:
        assert e.code in (0, None)
    printed = capsys.readouterr().out
    assert "open-set top-1" in printed and "distractors" in printed
    res = json.loads((tmp_path / "retrieval.json").read_text())[0]
    assert res["classes"] == [7, 8, 9] and res["distractors"][0] == 10 and 0 <= res["top1"][0] <= 1


def test_retrieval_refuses_a_teacher_that_saw_the_held_out_classes(tmp_path, capsys, teacher_dir):
    from distillnas.cli import main

    argv = ["train", "--arch", "resnet8-w0.25", "--dataset", "synthetic", "--epochs", "1", "--loss", "feature_mse",
            "--task", "retrieval", "--data.classes=[0,1,2,3,4,5]", "--out", str(tmp_path / "o"), "--no-progress"]
    for teacher, says in ((str(teacher_dir), "was trained on every class"),  # the 10-class zoo
                          (str(tmp_path / "t.npy"), "is not a distillnas checkpoint")):
        if teacher.endswith(".npy"):
            np.save(teacher, np.zeros((600, 10), np.float32))
        with pytest.raises(SystemExit) as e:
            main([*argv, "--teacher", teacher])
        err = capsys.readouterr().err
        assert e.value.code == 2 and says in err and "--data.classes" in err and len(err.splitlines()) == 1
        assert not (tmp_path / "o").exists()


def test_retrieval_accepts_a_teacher_trained_on_the_same_classes(tmp_path):
    from distillnas.checkpoint import read_checkpoint
    from distillnas.retrieval import check_retrieval_teacher
    from distillnas.training import train_teachers

    from conftest import quick_cfg

    out = tmp_path / "t"
    train_teachers("resnet8-w0.25", [0], DataConfig(name="synthetic", classes=[0, 1, 2, 3, 4, 5]),
                   quick_cfg(optim={"epochs": 0.2}), out)
    (member,) = out.glob("*.pt")
    assert read_checkpoint(member)["config"]["data"]["classes"] == [0, 1, 2, 3, 4, 5]
    check_retrieval_teacher([str(out)], [5, 4, 3, 2, 1, 0])  # the same classes, in any order
    with pytest.raises(DistillnasError, match=r"trained on classes \[0, 1, 2, 3, 4, 5\], not"):
        check_retrieval_teacher([str(member)], [0, 1, 2, 3, 4])
