import json
import os
import sys

import numpy as np
import pytest
import torch

from distillnas.checkpoint import load_student
from distillnas.rundir import RunDir
from distillnas.runconfig import load_search_config
from distillnas.setup import prepare_teacher
from distillnas.data import load_dataset, make_views
from distillnas.errors import DistillnasError
from distillnas.teachers import (Ensemble, TeacherCache, ensemble_report, evaluate_teacher, expand_spec,
                                 load_teacher)


def test_zoo_members_form_an_ensemble(teacher_dir, synth):
    ds, sp = synth
    t = load_teacher(str(teacher_dir), ds)
    assert isinstance(t, Ensemble) and t.num_members == 3 and t.num_classes == 10
    report = evaluate_teacher(t, ds, "test", sp.test)
    assert report.oracle >= max(report.members) and sum(report.right_counts) == pytest.approx(1.0)
    assert (teacher_dir / "ensemble.json").is_file()


def test_a_search_that_trains_its_teacher_records_every_member(tmp_path):
    """The search trains one member per call (resumable per member); ensemble.json must still name
    all of them and report the whole ensemble, not the last member alone."""
    cfg = load_search_config(None, [f"--run_dir={tmp_path / 'r'}", "--data.name=synthetic", "--teacher.spec=[]",
                                    "--teacher.arch=resnet8-w0.25", "--teacher.seeds=[0, 1]", "--teacher.epochs=0.2"])
    run = RunDir.of(cfg)
    members = list(prepare_teacher(cfg, run, None).members)
    record = json.loads((run.teacher_dir / "ensemble.json").read_text())
    assert len(members) == 2 and record["seeds"] == [0, 1] and record["members"] == members
    assert len(record["test"]["members"]) == 2 and len(record["test"]["right_counts"]) == 3


def test_ensemble_report_by_hand():
    logits = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]],
                           [[0.0, 0.5], [1.0, 0.0], [0.0, 2.0]]])  # 2 members, 3 examples
    r = ensemble_report(logits, torch.tensor([0, 0, 0]))
    assert r.members == pytest.approx([2 / 3, 1 / 3])
    assert r.average == pytest.approx(2 / 3)  # mean logits: (0.5, 0.25) right, (1, 0) right, (0, 1.5) wrong
    assert r.oracle == pytest.approx(2 / 3)
    assert r.right_counts == pytest.approx([1 / 3, 1 / 3, 1 / 3])


def test_torchscript_python_and_logits_teachers(teacher_dir, synth, tmp_path, monkeypatch):
    ds, sp = synth
    ckpt = sorted(teacher_dir.glob("*.pt"))[0]
    model, meta = load_student(ckpt)
    assert meta["arch"] == "resnet8-w0.25" and "train" in meta["config"]
    x = ds.images[sp.test[:8]].float()
    # TorchScript
    ts = tmp_path / "teacher.ts"
    torch.jit.save(torch.jit.trace(model, torch.randn(1, 3, 16, 16)), str(ts))
    t_ts = load_teacher(str(ts), ds)
    assert torch.allclose(t_ts.outputs(x, sp.test[:8]).logits, load_teacher(str(ckpt), ds).outputs(x, sp.test[:8]).logits,
                          atol=1e-5)
    # python factory with weights
    (tmp_path / "my_teachers.py").write_text(
        "from distillnas.models import build_model\n"
        "def small(num_classes):\n    return build_model('resnet8-w0.25', num_classes, 3, 16)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    torch.save(model.state_dict(), tmp_path / "w.pt")
    t_py = load_teacher(f"python:my_teachers:small@{tmp_path / 'w.pt'}", ds)
    assert torch.allclose(t_py.outputs(x, sp.test[:8]).logits, t_ts.outputs(x, sp.test[:8]).logits, atol=1e-5)
    # logits files (.npy and .pt) in pool order
    full = torch.randn(len(ds), 10)
    np.save(tmp_path / "l.npy", full.numpy())
    t_np = load_teacher(str(tmp_path / "l.npy"), ds)
    assert torch.equal(t_np.outputs(None, torch.tensor([3, 7])).logits[0], full[[3, 7]])
    torch.save(full, tmp_path / "l.pt")
    assert load_teacher(str(tmp_path / "l.pt"), ds).num_classes == 10
    # a mixed ensemble through a comma list
    assert load_teacher(f"{ckpt},{tmp_path / 'l.npy'}", ds).num_members == 2
    sys.modules.pop("my_teachers", None)


def test_bad_teachers(teacher_dir, synth, tmp_path):
    ds, _ = synth
    ckpt = sorted(teacher_dir.glob("*.pt"))[0]
    np.save(tmp_path / "short.npy", np.zeros((17, 10), dtype=np.float32))
    with pytest.raises(DistillnasError, match="has 17 rows; dataset 'synthetic' needs 600"):
        load_teacher(str(tmp_path / "short.npy"), ds)
    np.save(tmp_path / "wide.npy", np.zeros((600, 100), dtype=np.float32))
    with pytest.raises(DistillnasError, match="predicts 100 classes but dataset 'synthetic' has 10"):
        load_teacher(str(tmp_path / "wide.npy"), ds)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    with pytest.raises(DistillnasError, match="truncated or unreadable"):
        load_teacher(str(broken), ds)
    with pytest.raises(DistillnasError, match="takes 3-channel images but dataset 'digits' has 1"):
        load_teacher(str(ckpt), load_dataset("digits"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DistillnasError, match="holds no"):
        expand_spec(str(tmp_path / "empty"))
    with pytest.raises(DistillnasError, match="neither a file"):
        load_teacher(str(tmp_path / "missing.pt"), ds)


def test_cache_runs_the_teacher_once_and_persists(teacher_dir, synth, tmp_path):
    ds, sp = synth
    t = load_teacher(str(teacher_dir), ds)
    views = make_views(sp.minitrain, 3, ds.pad, ds.flip, 0)
    cache = TeacherCache(tmp_path / "c", batch_size=100)
    out = cache.get(t, ds, "minitrain", sp.minitrain, views)
    assert out.logits.shape == (3, 3, len(sp.minitrain), 10)
    first = cache.teacher_batches
    assert first == 3 * -(-len(sp.minitrain) // 100)
    cache.get(t, ds, "minitrain", sp.minitrain, views)
    fresh = TeacherCache(tmp_path / "c")
    again = fresh.get(t, ds, "minitrain", sp.minitrain, views)
    assert cache.teacher_batches == first and fresh.teacher_batches == 0
    assert torch.equal(again.logits, out.logits)
    # a different view table is a different entry
    fresh.get(t, ds, "minitrain", sp.minitrain, make_views(sp.minitrain, 3, ds.pad, ds.flip, 1))
    assert fresh.teacher_batches > 0
    with pytest.raises(DistillnasError, match="view table was made for other examples than split 'minitrain'"):
        fresh.get(t, ds, "minitrain", sp.minitrain, make_views(sp.minival, 3, ds.pad, ds.flip, 0))
    # the cached logits are the teacher's on exactly those views
    from distillnas.data import Normalizer, render_view
    pos = torch.tensor([0, 5])
    live = t.outputs(render_view(ds, sp.minitrain, views, 2, pos, Normalizer(ds)), sp.minitrain[pos]).logits
    assert torch.allclose(out.batch(pos, torch.tensor([2, 2])).logits, live, atol=2e-2)
    # a torn entry (its progress record garbage) is recomputed, not fatal
    for f in (tmp_path / "c").glob("*/meta.json"):
        f.write_bytes(b"garbage")
    torn = TeacherCache(tmp_path / "c")
    torn.get(t, ds, "minitrain", sp.minitrain, views)
    assert torn.teacher_batches == views.num_views  # recomputed: one batch of <= 500 per view
    rewritten = TeacherCache(tmp_path / "c")
    assert torch.equal(rewritten.get(t, ds, "minitrain", sp.minitrain, views).logits, out.logits)
    assert rewritten.teacher_batches == 0  # the torn entry was rewritten


def test_cache_overwritten_with_garbage_is_refilled_from_the_bad_chunk_with_a_warning(teacher_dir, synth, tmp_path,
                                                                                      caplog):
    ds, sp = synth
    t = load_teacher(str(teacher_dir), ds)
    views = make_views(sp.minitrain, 2, ds.pad, ds.flip, 0)
    good = TeacherCache(tmp_path / "c", batch_size=100).get(t, ds, "minitrain", sp.minitrain, views).logits.clone()
    (logits,) = (tmp_path / "c").glob("*/logits.f16")
    raw = bytearray(logits.read_bytes())  # (views, members, examples, classes) fp16
    raw[250 * 20:260 * 20] = np.random.default_rng(0).bytes(200)  # examples 250-259 of view 0, member 0: random bytes
    logits.write_bytes(bytes(raw))
    reader = TeacherCache(tmp_path / "c", batch_size=100)
    with caplog.at_level("WARNING", logger="distillnas"):
        again = reader.get(t, ds, "minitrain", sp.minitrain, views).logits
    assert "was changed after it was filled" in caplog.text and str(logits) in caplog.text
    assert reader.teacher_batches == 2 * (-(-len(sp.minitrain) // 100) - 2)  # only the chunks from 200 on, both views
    assert torch.isfinite(again.float()).all() and torch.equal(again, good)
    # a read-only cache with a bad entry is refused, naming the file, instead of training on garbage
    logits.write_bytes(bytes(raw))
    for f in (tmp_path / "c").rglob("*"):
        f.chmod(0o555 if f.is_dir() else 0o444)
    (tmp_path / "c").chmod(0o555)
    try:
        if os.access(logits.parent, os.W_OK):  # root ignores modes: the refusal cannot be provoked here
            return
        with pytest.raises(DistillnasError, match="changed after it was filled.*read-only"):
            TeacherCache(tmp_path / "c").get(t, ds, "minitrain", sp.minitrain, views)
    finally:
        for f in [tmp_path / "c", *(tmp_path / "c").rglob("*")]:
            f.chmod(0o755 if f.is_dir() else 0o644)


def test_features_through_the_cache(teacher_dir, synth):
    ds, sp = synth
    t = load_teacher(str(teacher_dir), ds)
    out = TeacherCache(None).get(t, ds, "minival", sp.minival, make_views(sp.minival, 1, 0, False, 0), True)
    assert out.features.shape == (1, 3, len(sp.minival), 16)  # resnet8-w0.25: widths 4/8/16


def test_a_state_dict_given_as_teacher_is_named_for_what_it_is(tmp_path):
    """One read tells a checkpoint, a logits tensor and anything else apart (no error-text matching)."""
    import torch

    from distillnas.data import load_dataset
    from distillnas.errors import DistillnasError
    from distillnas.teachers import load_teacher

    ds = load_dataset("synthetic")
    path = tmp_path / "weights.pt"
    torch.save({"conv.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(DistillnasError, match="neither a distillnas checkpoint nor a logits tensor.*python:"):
        load_teacher(str(path), ds)
    torch.save(torch.zeros(len(ds), ds.num_classes), path)
    assert load_teacher(str(path), ds).num_classes == ds.num_classes


def test_every_teacher_kind_meets_the_teacher_protocol(teacher_dir):
    from distillnas.data import load_dataset
    from distillnas.teachers import Teacher, load_teacher

    ds = load_dataset("synthetic")
    ensemble = load_teacher(str(teacher_dir), ds)
    for t in (ensemble, *ensemble.members):
        assert isinstance(t, Teacher), type(t).__name__


def test_a_flipped_teacher_answers_for_the_image_and_its_mirror(teacher_dir, synth, tmp_path, capsys):
    """flip: averages a network's logits over x and x mirrored left-right, member by member, under
    its own identity (so cached outputs of the plain teacher are never reused for it)."""
    from distillnas.teachers import FlipAveraged, Teacher

    ds, sp = synth
    ckpt = sorted(teacher_dir.glob("*.pt"))[0]
    model, _ = load_student(ckpt)
    model.eval()
    x = ds.images[sp.test[:8]].float()
    flipped = load_teacher(f"flip:{ckpt}", ds)
    assert isinstance(flipped, FlipAveraged) and isinstance(flipped, Teacher)
    with torch.no_grad():
        want = (model(x) + model(x.flip(-1))) / 2
    out = flipped.outputs(x, sp.test[:8], features=True)
    assert torch.allclose(out.logits[0], want, atol=1e-5) and out.features is not None
    plain = load_teacher(str(ckpt), ds)
    assert flipped.identity == "flip:" + plain.identity
    # flip: reaches every member of a directory, and the ensemble stacks the mirrored members
    members = expand_spec(f"flip:{teacher_dir}")
    assert members == ["flip:" + m for m in expand_spec(str(teacher_dir))]
    ens = load_teacher(f"flip:{teacher_dir}", ds)
    assert isinstance(ens, Ensemble) and ens.num_members == 3 and all(isinstance(m, FlipAveraged) for m in ens.members)
    # a logits file has no images to mirror: one clear error
    np.save(tmp_path / "l.npy", torch.randn(len(ds), 10).numpy())
    with pytest.raises(DistillnasError, match="flip: mirrors the images"):
        load_teacher(f"flip:{tmp_path / 'l.npy'}", ds)
    # through the CLI: teacher eval reports the mirrored ensemble
    from test_cli import run as cli

    code, text, _ = cli(capsys, "teacher", "eval", "-t", f"flip:{teacher_dir}", "--dataset", "synthetic")
    assert code == 0 and "average" in text.lower()
