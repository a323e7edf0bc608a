"""Long teacher trainings survive a kill: finished members are kept, a killed member continues
from its last saved stage, and the result is the member an uninterrupted run trains."""
import pytest
import torch

import distillnas.training.student as student_mod
from distillnas.checkpoint import load_student
from distillnas.config import DataConfig
from distillnas.training import train_teachers

from conftest import quick_cfg


class Killed(BaseException):
    """Stands for SIGKILL: nothing below may catch it."""


def _weights(path):
    return load_student(path)[0].state_dict()


def test_killed_member_continues_from_its_last_stage(tmp_path, monkeypatch):
    cfg = quick_cfg(augment="random", optim={"epochs": 3})
    data = DataConfig(name="synthetic")
    plain, _ = train_teachers("resnet8-w0.25", [0], data, cfg, tmp_path / "plain")
    real, calls, kill = student_mod.train_student, [], [True]

    def dies_in_stage_3(*a, **kw):
        calls.append(kw.get("resume_from"))
        if kill[0] and len(calls) == 3:
            raise Killed  # the kill, after two stages' states were kept
        return real(*a, **kw)

    monkeypatch.setattr(student_mod, "train_student", dies_in_stage_3)
    with pytest.raises(Killed):
        train_teachers("resnet8-w0.25", [0], data, cfg, tmp_path / "killed", save_every=1)
    assert [p.name for p in sorted((tmp_path / "killed" / ".resume" / "seed0").glob("*.state"))] == ["stage2.state"]
    calls.clear()
    kill[0] = False
    runs, _ = train_teachers("resnet8-w0.25", [0], data, cfg, tmp_path / "killed", save_every=1)
    assert len(calls) == 1 and calls[0].name == "stage2.state"  # only the last stage ran again
    assert not (tmp_path / "killed" / ".resume").exists()  # cleaned up once the member exists
    for (name, a), b in zip(_weights(plain[0].checkpoint).items(), _weights(runs[0].checkpoint).values()):
        assert torch.equal(a, b), name  # the same member as an uninterrupted run, bit for bit

    calls.clear()
    again, _ = train_teachers("resnet8-w0.25", [0, 1], data, cfg, tmp_path / "killed", save_every=1)
    assert again[0].kept and not again[1].kept and again[0].metrics == runs[0].metrics
    assert len(calls) == 3  # seed 0 kept; only seed 1 trained (in 3 stages)
    assert again[0].params == runs[0].params


def test_member_of_another_config_is_trained_again(tmp_path):
    data = DataConfig(name="synthetic")
    train_teachers("resnet8-w0.25", [0], data, quick_cfg(augment="random", optim={"epochs": 1}), tmp_path)
    runs, _ = train_teachers("resnet8-w0.25", [0], data, quick_cfg(augment="random", optim={"epochs": 2}), tmp_path)
    assert not runs[0].kept


def test_stale_stage_states_of_another_config_are_discarded(tmp_path, monkeypatch):
    data = DataConfig(name="synthetic")
    state_dir = tmp_path / ".resume" / "seed0"
    state_dir.mkdir(parents=True)
    (state_dir / "fingerprint.json").write_text("{}")
    (state_dir / "stage1.state").write_bytes(b"not this run's")
    runs, _ = train_teachers("resnet8-w0.25", [0], data, quick_cfg(augment="random", optim={"epochs": 2}), tmp_path,
                             save_every=1)
    assert runs[0].status == "ok" and not runs[0].kept


def test_recipe_sets_the_ensemble_and_flags_win(tmp_path):
    from typer.testing import CliRunner

    from distillnas.catalog import packaged_recipes
    from distillnas.cli import app
    from distillnas.config import validate
    from distillnas.io import read_yaml_file
    from distillnas.recipe import TeacherRecipe

    for path in packaged_recipes().values():  # every packaged recipe validates
        validate(TeacherRecipe, read_yaml_file(path, "recipe"), "recipe.")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("arch: resnet8-w0.25\nseeds: [0, 1]\nepochs: 1\nsave_every: 0\ndata: {name: synthetic}\n"
                      "train: {optim: {batch_size: 32, lr: 0.2}, augment: none}\n")
    res = CliRunner().invoke(app, ["teacher", "train", "--recipe", str(recipe), "--seeds", "3", "--out",
                                   str(tmp_path / "t"), "--no-progress"])
    assert res.exit_code == 0, res.output
    (member,) = (tmp_path / "t").glob("*.pt")
    assert member.name == "resnet8-w0.25-ce-seed3.pt"  # the recipe's arch, the flag's seed
    ckpt = torch.load(member, weights_only=True)
    assert ckpt["config"]["train"]["optim"]["batch_size"] == 32 and ckpt["config"]["train"]["augment"] == "none"
    assert ckpt["config"]["data"]["name"] == "synthetic"


def test_unknown_recipe_is_one_line(tmp_path):
    from distillnas.cli.app import main

    with pytest.raises(SystemExit) as e:
        main(["teacher", "train", "--recipe", "nope", "--out", str(tmp_path / "t")])
    assert e.value.code == 2 and not (tmp_path / "t").exists()


def _drop_setting(record: dict, key: str) -> dict:
    """The record as a distillnas from before `train.<key>` existed would have written it."""
    return {**record, "train": {k: v for k, v in record["train"].items() if k != key}}


def test_a_record_from_before_a_new_setting_still_matches(tmp_path, monkeypatch):
    """Upgrading must not retrain a finished member or discard a stage state: a setting the record
    lacks matches when the run asks for its default (found when `compile` was added)."""
    import json

    from distillnas.checkpoint import read_checkpoint
    from distillnas.io import atomic_torch_save

    data = DataConfig(name="synthetic")
    cfg = quick_cfg(augment="random", optim={"epochs": 2})
    first, _ = train_teachers("resnet8-w0.25", [0], data, cfg, tmp_path)
    ckpt = read_checkpoint(first[0].checkpoint)
    ckpt["config"] = _drop_setting(ckpt["config"], "compile")
    atomic_torch_save(first[0].checkpoint, ckpt)
    runs, _ = train_teachers("resnet8-w0.25", [0], data, cfg, tmp_path)
    assert runs[0].kept  # compile is at its default: the same run
    runs, _ = train_teachers("resnet8-w0.25", [0], data, cfg.model_copy(update={"compile": "off"}), tmp_path)
    assert not runs[0].kept  # a non-default value of the new setting is another run

    # a killed member's stage state, fingerprinted before the setting existed, is continued
    real, calls = student_mod.train_student, []

    def dies_in_stage_2(*a, **kw):
        calls.append(kw.get("resume_from"))
        if len(calls) == 2:
            raise Killed
        return real(*a, **kw)

    monkeypatch.setattr(student_mod, "train_student", dies_in_stage_2)
    with pytest.raises(Killed):
        train_teachers("resnet8-w0.25", [1], data, cfg, tmp_path / "k", save_every=1)
    mark = tmp_path / "k" / ".resume" / "seed1" / "fingerprint.json"
    mark.write_text(json.dumps(_drop_setting(json.loads(mark.read_text()), "compile"), sort_keys=True))
    calls.clear()
    monkeypatch.setattr(student_mod, "train_student", lambda *a, **kw: calls.append(kw.get("resume_from")) or real(*a, **kw))
    runs, _ = train_teachers("resnet8-w0.25", [1], data, cfg, tmp_path / "k", save_every=1)
    assert runs[0].status == "ok" and [c.name for c in calls] == ["stage1.state"]


def test_settings_match_reads_missing_settings_as_their_defaults():
    from distillnas.section import settings_match

    defaults = {"train": {"compile": "auto", "lr": 0.1}}
    assert settings_match({"train": {"lr": 0.1}}, {"train": {"lr": 0.1, "compile": "auto"}}, defaults)
    assert not settings_match({"train": {"lr": 0.1}}, {"train": {"lr": 0.1, "compile": "on"}}, defaults)
    assert not settings_match({"train": {"lr": 0.2}}, {"train": {"lr": 0.1, "compile": "auto"}}, defaults)
    assert not settings_match({"train": {"lr": 0.1, "gone": 1}}, {"train": {"lr": 0.1}}, defaults)
    assert not settings_match({}, {"new_without_default": 1}, defaults)


def test_setting_differences_names_dotted_keys_and_reads_added_sections_by_leaf():
    from distillnas.section import _ABSENT, declared_defaults, setting_differences
    from distillnas.recipe import TrainConfig
    defaults = {"train": {"lr": 0.1, "extra": {"a": 1, "b": 2}, "need": _ABSENT}}
    rec = {"train": {"lr": 0.2, "need": 3, "old": 1}}
    assert setting_differences(rec, {"train": {"lr": 0.1, "need": 3, "extra": {"a": 1, "b": 2}}}, defaults) \
        == ["train.lr", "train.old"]
    # a section added later at a non-default leaf names that leaf, not the section
    assert setting_differences({"train": {"lr": 0.1, "need": 3}},
                               {"train": {"lr": 0.1, "need": 3, "extra": {"a": 1, "b": 5}}}, defaults) == ["train.extra.b"]
    # a required setting the record lacks is never read as a default
    assert setting_differences({"train": {"lr": 0.1}}, {"train": {"lr": 0.1, "need": 3}}, defaults) == ["train.need"]
    d = declared_defaults(TrainConfig(teacher_views=2, optim={"lr": 0.5}))
    assert d["teacher_views"] == TrainConfig().teacher_views and d["optim"]["lr"] == TrainConfig().optim.lr
    assert set(d) == set(TrainConfig.model_fields)


def test_a_killed_kd_student_training_continues_from_its_last_stage(tmp_path, monkeypatch, teacher_dir):
    """`train(save_every=E)` (what `distillnas train --save-every` and the showcase's long
    retrainings run): a kill loses at most a stage, and the student is the uninterrupted one."""
    from distillnas.trainer import train

    cfg = quick_cfg(loss={"name": "kd"}, augment="views", teacher_views=2, optim={"epochs": 3})
    data = DataConfig(name="synthetic")
    plain = train("resnet8-w0.25", cfg, data, teacher=[str(teacher_dir)], out_dir=tmp_path / "plain").runs[0]
    real, calls, kill = student_mod.train_student, [], [True]

    def dies_in_stage_3(*a, **kw):
        calls.append(kw)
        if kill[0] and len(calls) == 3:
            raise Killed
        return real(*a, **kw)

    monkeypatch.setattr(student_mod, "train_student", dies_in_stage_3)
    with pytest.raises(Killed):
        train("resnet8-w0.25", cfg, data, teacher=[str(teacher_dir)], out_dir=tmp_path / "k", save_every=1)
    assert all(kw["teacher"] is not None for kw in calls)  # every stage distils from the teacher
    assert [p.name for p in (tmp_path / "k" / ".resume").glob("*/*.state")] == ["stage2.state"]
    calls.clear()
    kill[0] = False
    run = train("resnet8-w0.25", cfg, data, teacher=[str(teacher_dir)], out_dir=tmp_path / "k", save_every=1).runs[0]
    assert len(calls) == 1 and calls[0]["resume_from"].name == "stage2.state"
    assert not (tmp_path / "k" / ".resume").exists() and run.metrics == plain.metrics
    for (name, a), b in zip(_weights(plain.checkpoint).items(), _weights(run.checkpoint).values()):
        assert torch.equal(a, b), name
