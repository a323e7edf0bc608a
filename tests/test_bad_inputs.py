"""Bad input across every command: one line naming the bad value, exit 2, no traceback,
nothing lost.

Each case is (argv, expected fragment of the message, preparation). `{run}` is a copy of a
finished tiny search run: after the bad command, the same run must still resume to exactly
the trials it had (nothing re-run, nothing rewritten). `{tmp}` is the test's directory,
`{teacher}` a directory of three tiny teachers, `{bad}` the file or directory that the
preparation made.
"""
from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from distillnas.cli import main

from conftest import rows, tiny_overrides

SYN = ["--data.name=synthetic"]
TRAIN = ["train", "--arch", "resnet8-w0.25", "--dataset", "synthetic", "--epochs", "1", "--no-progress"]


# --- preparations: each makes {bad} under tmp and returns its path ------------------------

def _file(text: bytes | str, name: str = "bad.yaml"):
    def make(tmp: Path, teacher: Path) -> Path:
        p = tmp / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        return p
    return make


def _logits(rows_: int, cols: int, fill: float | None = None, dtype=np.float32):
    def make(tmp: Path, teacher: Path) -> Path:
        a = np.random.default_rng(0).normal(size=(rows_, cols)).astype(dtype)
        if fill is not None:
            a[:] = fill
        p = tmp / "logits.npy"
        np.save(p, a)
        return p
    return make


class Evil:  # a pickle that would run code if unpickled without weights_only
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/distillnas-pwned",))


def _pickle_teacher(tmp: Path, teacher: Path) -> Path:
    p = tmp / "evil.pt"
    torch.save({"format": "distillnas/1", "evil": Evil()}, p)
    return p


def _one_member(tmp: Path, teacher: Path) -> Path:
    return sorted(teacher.glob("*.pt"))[0]


def _imagefolder(classes: dict[str, int], corrupt: bool = False):
    def make(tmp: Path, teacher: Path) -> Path:
        from PIL import Image

        root = tmp / "imgs"
        for split in ("train", "val"):
            for c, n in classes.items():
                d = root / split / c
                d.mkdir(parents=True, exist_ok=True)
                for i in range(n):
                    Image.new("RGB", (8, 8), (i * 20 % 255, 0, 0)).save(d / f"{i}.png")
        return root
    return make


def _alias_bomb(tmp: Path, teacher: Path) -> Path:
    """'Billion laughs': nine levels of nine aliases, 9^9 values once expanded."""
    text, prev = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n', "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]\n"
        prev = name
    return _file(text + "search: {trials: *i}\n")(tmp, teacher)


def _table_file(tmp: Path, teacher: Path) -> Path:
    path = tmp / "t.txt"
    path.write_text("# distillnas benchmark table\n# columns: accuracy\na 90\nb 80\nc 70\n")
    return path


def _cifar(batch_obj, labels_max: int = 9):
    def make(tmp: Path, teacher: Path) -> Path:
        d = tmp / "cifar-10-batches-py"
        d.mkdir(parents=True)
        for f in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            obj = batch_obj if batch_obj is not None else {
                b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, labels_max]}
            (d / f).write_bytes(pickle.dumps(obj))
        return tmp
    return make


def _a_file(tmp: Path, teacher: Path) -> Path:
    p = tmp / "a-file"
    p.write_text("x")
    return p


def _corrupt_store(run: Path):
    (run / "trials.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x13" * 3000)
    for s in ("-wal", "-shm"):
        Path(str(run / "trials.sqlite") + s).unlink(missing_ok=True)


def _empty_store(run: Path):
    """The store replaced by a fresh one (tables, no trials) under a trained controller."""
    for s in ("", "-wal", "-shm"):
        Path(str(run / "trials.sqlite") + s).unlink(missing_ok=True)
    from distillnas.store import TrialStore
    TrialStore(run / "trials.sqlite").close()


def _truncated_store(run: Path):
    for suffix in ("-wal", "-shm"):
        Path(str(run / "trials.sqlite") + suffix).unlink(missing_ok=True)
    data = (run / "trials.sqlite").read_bytes()
    (run / "trials.sqlite").write_bytes(data[: len(data) // 2])


def _zeroed_store(run: Path):
    for s in ("-wal", "-shm"):
        Path(str(run / "trials.sqlite") + s).unlink(missing_ok=True)
    (run / "trials.sqlite").write_bytes(b"")


def _binary_config(run: Path):
    (run / "config.yaml").write_bytes(b"\x00\xff\xfe garbage \x81")


def _truncated_strategy(run: Path):
    data = (run / "strategy.pt").read_bytes()
    (run / "strategy.pt").write_bytes(data[: len(data) // 3])


# --- the table ------------------------------------------------------------------------------
# (id, argv, fragment, prep for {bad}, damage to {run} before the command)

CASES = [
    # search: config values and names
    ("target-inf", ["search", "--reward.target=inf"], "reward.target='inf'", None, None),
    ("target-nan", ["search", "--reward.target=.nan"], "reward.target=nan", None, None),
    ("target-neg", ["search", "--reward.target=-1"], "reward.target=-1", None, None),
    ("epochs-inf", ["search", "--evaluator.proxy.epochs=inf"], "evaluator.proxy.epochs='inf'", None, None),
    ("lr-nan", ["search", "--evaluator.proxy.lr=nan"], "evaluator.proxy.lr='nan'", None, None),
    ("trials-0", ["search", "--search.trials=0"], "search.trials=0", None, None),
    ("batch-0", ["search", "--search.batch_size=0"], "search.batch_size=0", None, None),
    ("unknown-section", ["search", "--serch.trials=3"], "'serch' (did you mean 'search'?)", None, None),
    ("unknown-key", ["search", "--search.trails=3"], "'search.trails'", None, None),
    ("strategy", ["search", "--strategy.name=bogus"], "unknown strategy 'bogus'", None, None),
    ("space", ["search", "--space.name=bogus"], "'bogus'", None, None),
    ("preset", ["search", "--space.preset=huge"], "'huge'", None, None),
    ("evaluator", ["search", "--evaluator.name=bogus"], "unknown evaluator 'bogus'", None, None),
    ("executor", ["search", "--execution.executor=slurm"], "unknown executor 'slurm'", None, None),
    ("metric", ["search", "--reward.metric=energy"], "reward.metric='energy'", None, None),
    ("loss-name", ["search", *SYN, "--evaluator.proxy.loss.name=kld"], "unknown loss 'kld'", None, None),
    ("temp-0", ["search", "--evaluator.proxy.loss.temperature=0"], "temperature=0", None, None),
    ("val-frac", ["search", "--data.val_fraction=1.5"], "data.val_fraction=1.5", None, None),
    ("image-size", ["search", "--data.image_size=64"], "data.image_size=64", None, None),
    ("channels-last", ["search", "--execution.channels_last=sometimes"], "channels_last='sometimes'", None, None),
    ("dataset", ["search", "--data.name=imagenet"], "unknown dataset 'imagenet'", None, None),
    ("cifar-no-root", ["search", "--data.name=cifar10"], "needs a data root", None, None),
    ("cifar-bad-root", ["search", "--data.name=cifar10", "--data.root=/nonexistent"], "'/nonexistent'", None, None),
    ("teacher-arch", ["search", *SYN, "--teacher.arch=vgg"], "unknown model family 'vgg'", None, None),
    ("table-none", ["search", "--config", "akd_diswot", "--evaluator.table=null"], "evaluator.table", None, None),
    ("table-missing", ["search", "--config", "akd_diswot", "--evaluator.table=/nowhere.txt"], "'/nowhere.txt'",
     None, None),
    ("kdas-memory", ["search", "--config", "kdas_mnist5k", "--evaluator.supernet.memory_limit=0.5"],
     "memory limit", None, None),
    ("kdas-ray", ["search", "--config", "kdas_mnist5k", "--execution.executor=ray"], "executor=local", None, None),
    ("bad-override", ["search", "--trials"], "bad override '--trials'", None, None),
    ("reward-reference", ["search", "--reward.reference=vgg"], "reward.reference='vgg'", None, None),
    ("reward-reference-no-latency", ["search", "--config", "akd_diswot", "--reward.metric=latency_ms",
                                     "--reward.reference=resnet8"], "needs a latency measurer", None, None),
    ("override-into-value", ["search", "--reward.target.x=1"], "'target' is a value", None, None),
    # search: config files
    ("config-missing", ["search", "--config", "nope.yaml"], "'nope.yaml'", None, None),
    ("config-binary", ["search", "--config", "{bad}"], "not a UTF-8 text file", _file(b"\xff\xfe\x00\x81garbage"), None),
    ("config-empty", ["search", "--config", "{bad}"], "is empty", _file(""), None),
    ("config-dup", ["search", "--config", "{bad}"], "duplicate key 'search'",
     _file("search: {trials: 3}\nsearch: {trials: 4}\n"), None),
    ("config-dir", ["search", "--config", "{tmp}"], "is a directory", None, None),
    ("config-list", ["search", "--config", "{bad}"], "must be a mapping", _file("- 1\n- 2\n"), None),
    ("config-syntax", ["search", "--config", "{bad}"], "not valid YAML", _file("search: {trials: [\n"), None),
    ("config-tag", ["search", "--config", "{bad}"], "not valid YAML",
     _file("search: !!python/object/apply:os.system ['echo pwned']\n"), None),
    ("config-inf", ["search", "--config", "{bad}"], "reward.target=inf", _file("reward: {target: .inf}\n"), None),
    # search: teachers (checked before the run directory is written)
    ("teacher-missing", ["search", *SYN, "--teacher.spec=[/no/teacher.pt]"], "'/no/teacher.pt'", None, None),
    ("teacher-pickle", ["search", *SYN, "--teacher.spec=[{bad}]"], "evil.pt", _pickle_teacher, None),
    ("teacher-classes", ["search", *SYN, "--teacher.spec=[{bad}]"], "predicts 3 classes", _logits(600, 3), None),
    ("teacher-rows", ["search", *SYN, "--teacher.spec=[{bad}]"], "has 17 rows", _logits(17, 10), None),
    ("teacher-nan", ["search", *SYN, "--teacher.spec=[{bad}]"], "non-finite values", _logits(600, 10, np.nan), None),
    ("teacher-int", ["search", *SYN, "--teacher.spec=[{bad}]"], "logits must be floats",
     _logits(600, 10, dtype=np.int64), None),
    ("teacher-python", ["search", *SYN, "--teacher.spec=[python:nosuchmod:f]"], "'nosuchmod:f'", None, None),
    ("od-single", ["search", *SYN, "--teacher.spec=[{bad}]", "--evaluator.proxy.loss.name=od"],
     "evaluator.proxy.loss.name=kd", _one_member, None),
    ("kdas-od-single", ["search", "--config", "kdas_mnist5k", *SYN, "--teacher.spec=[{bad}]"],
     "evaluator.supernet.loss.name=kd", _one_member, None),
    ("od-one-seed", ["search", *SYN, "--teacher.seeds=[0]", "--evaluator.proxy.loss.name=od"],
     "teacher.seeds", None, None),
    # search: run directories
    ("run-dir-file", ["search", *SYN, "--run_dir={bad}"], "is a file", _a_file, None),
    ("run-changed", ["search", "{run_args}", "--reward.target=9"], "differs in: reward.target", None, None),
    ("run-corrupt-store", ["search", "{run_args}"], "is corrupt", None, _corrupt_store),
    ("run-truncated-store", ["search", "{run_args}"], "is corrupt", None, _truncated_store),
    ("run-config-binary", ["search", "{run_args}"], "not a UTF-8 text file", None, _binary_config),
    ("run-emptied-store", ["search", "{run_args}"], "the store was emptied or replaced", None, _empty_store),
    ("run-zeroed-store", ["search", "{run_args}"], "is empty (0 bytes): its trials are gone", None, _zeroed_store),
    ("run-truncated-strategy", ["search", "{run_args}"], "strategy.pt", None, _truncated_strategy),
    ("report-corrupt-store", ["report", "{run}"], "is corrupt", None, _corrupt_store),
    # train
    ("train-lr-nan", [*TRAIN, "--loss", "ce", "--optim.lr=.nan"], "optim.lr=nan", None, None),
    ("train-lr-inf", [*TRAIN, "--loss", "ce", "--optim.lr=.inf"], "optim.lr=inf", None, None),
    ("train-epochs-0", [*TRAIN[:-3], "--loss", "ce", "--epochs", "0"], "optim.epochs=0", None, None),
    ("train-epochs-inf", [*TRAIN[:-3], "--loss", "ce", "--epochs", "inf"], "'--epochs'", None, None),
    ("train-batch-0", [*TRAIN, "--loss", "ce", "--optim.batch_size=0"], "optim.batch_size=0", None, None),
    ("train-kd-weight", [*TRAIN, "--loss.kd_weight=1.5"], "loss.kd_weight=1.5", None, None),
    ("train-temp-0", [*TRAIN, "--loss.temperature=0"], "loss.temperature=0", None, None),
    ("train-temp-neg", [*TRAIN, "--loss.temperature=-2"], "loss.temperature=-2", None, None),
    ("train-schedule", [*TRAIN, "--optim.schedule=bogus"], "optim.schedule='bogus'", None, None),
    ("train-augment", [*TRAIN, "--augment=mixup"], "augment='mixup'", None, None),
    ("train-channels-last", [*TRAIN, "--channels-last", "maybe"], "channels_last='maybe'", None, None),
    ("train-seeds", [*TRAIN, "--seeds", "x"], "bad seeds 'x'", None, None),
    ("train-arch", ["train", "--arch", "vgg", "--dataset", "synthetic"], "unknown model family 'vgg'", None, None),
    ("train-dataset", ["train", "--arch", "resnet8", "--dataset", "imagenet"], "unknown dataset 'imagenet'", None, None),
    ("train-loss", [*TRAIN, "--loss", "kld"], "unknown loss 'kld'", None, None),
    ("train-out-file", [*TRAIN, "--loss", "ce", "--out", "{bad}"], "is a file", _a_file, None),
    ("train-split", [*TRAIN, "--loss", "ce", "--split", "test"], "--split 'test'", None, None),
    ("train-device", [*TRAIN, "--loss", "ce", "--device", "tpu"], "unknown device 'tpu'", None, None),
    ("train-no-teacher", [*TRAIN, "--loss", "kd"], "give one with --teacher", None, None),
    ("train-od-single", [*TRAIN, "--loss", "od", "--teacher", "{bad}"], "--loss kd", _one_member, None),
    ("train-teacher-missing", [*TRAIN, "--teacher", "/no/where.pt"], "'/no/where.pt'", None, None),
    ("train-teacher-nan", [*TRAIN, "--teacher", "{bad}"], "non-finite values", _logits(600, 10, np.inf), None),
    ("train-from-not-run", ["train", "--from-run", "/"], "is not a run directory", None, None),
    ("train-from-top-0", ["train", "--from-run", "{run}", "--top", "0"], "'--top'", None, None),
    ("train-from-out-file", ["train", "--from-run", "{run}", "--out", "{bad}"], "is a file", _a_file, None),
    ("train-space-opt", ["train", "--arch", "x", "--space", "mnasnet", "--space.colour=red", "--dataset",
                         "synthetic"], "unknown config key 'space.colour'", None, None),
    ("train-scheme", [*TRAIN, "--scheme", "bogus"], "scheme.name='bogus'", None, None),
    ("takd-no-assistant", [*TRAIN, "--teacher", "{teacher}", "--scheme", "takd"], "needs --assistant", None, None),
    ("takd-assistant-larger", [*TRAIN, "--teacher", "{teacher}", "--scheme", "takd", "--assistant", "resnet20"],
     "not fewer than the teacher's", None, None),
    ("takd-assistant-smaller", [*TRAIN, "--teacher", "{teacher}", "--scheme", "takd", "--assistant",
                                "resnet8-w0.125"], "not more than the student's", None, None),
    ("rco-no-route", [*TRAIN, "--scheme", "rco"], "needs --route DIR", None, None),
    ("rco-empty-route", [*TRAIN, "--scheme", "rco", "--route", "{tmp}"], "holds no checkpoints", None, None),
    ("rco-with-teacher", [*TRAIN, "--scheme", "rco", "--route", "{tmp}", "--teacher", "{teacher}"],
     "drop --teacher", None, None),
    ("dml-features", [*TRAIN, "--scheme", "dml", "--loss", "rkd", "--teacher", "{teacher}"], "reads features",
     None, None),
    ("bss-no-teacher", [*TRAIN, "--scheme", "bss"], "give --teacher", None, None),
    ("bss-logits-teacher", [*TRAIN, "--scheme", "bss", "--teacher", "{bad}"], "is a logits file", _logits(600, 10),
     None),
    ("bss-weight", [*TRAIN, "--scheme", "bss", "--teacher", "{teacher}", "--scheme.bss_weight=-1"],
     "scheme.bss_weight=-1", None, None),
    ("bss-samples", [*TRAIN, "--scheme", "bss", "--teacher", "{teacher}", "--scheme.bss_samples=0"],
     "scheme.bss_samples=0", None, None),
    ("stream-not-imagefolder", [*TRAIN, "--loss", "ce", "--data.in_memory=false"],
     "data.in_memory=false applies to imagefolder only", None, None),
    ("stream-workers", [*TRAIN, "--loss", "ce", "--data.workers=-1"], "data.workers=-1", None, None),
    ("stream-memory", [*TRAIN, "--loss", "ce", "--data.in_memory=sometimes"], "data.in_memory", None, None),
    ("retrieval-no-classes", [*TRAIN, "--loss", "ce", "--task", "retrieval"], "--data.classes=[0,1,2,3,4,5,6]",
     None, None),
    ("retrieval-one-left", [*TRAIN, "--loss", "ce", "--task", "retrieval", "--data.classes=[0,1,2,3,4,5,6,7,8]"],
     "leaves 1 of 10", None, None),
    ("data-classes", [*TRAIN, "--loss", "ce", "--data.classes=[0,12]"], "([12] are not)", None, None),
    ("task", [*TRAIN, "--loss", "ce", "--task", "detect"], "--task 'detect'", None, None),
    ("train-addon-skip", ["train", "--arch", "conv3x3<5>|identity/identity/identity", "--space", "addon",
                          "--space.layers=[2,1,1]", "--loss", "ce", "--dataset", "synthetic"],
     "cannot take skip input(s) 5; allowed: none", None, None),
    # datasets from disk
    ("imagefolder-no-root", [*TRAIN[:4], "imagefolder", "--loss", "ce"], "needs a data root", None, None),
    ("imagefolder-empty-class", [*TRAIN[:4], "imagefolder", "--data-root", "{bad}", "--loss", "ce"],
     "holds no images", _imagefolder({"a": 2, "b": 0}), None),
    ("imagefolder-one-class", [*TRAIN[:4], "imagefolder", "--data-root", "{bad}", "--loss", "ce"],
     "at least 2", _imagefolder({"a": 3}), None),
    ("cifar-not-dict", [*TRAIN[:4], "cifar10", "--data-root", "{bad}", "--loss", "ce"], "not a cifar10 batch file",
     _cifar([1, 2, 3]), None),
    ("cifar-labels", [*TRAIN[:4], "cifar10", "--data-root", "{bad}", "--loss", "ce"], "labels 0..42",
     _cifar(None, labels_max=42), None),
    # bounds on every count and size (checked before any work)
    ("trials-bool", ["search", "--search.trials=true"], "search.trials=true: expected a number", None, None),
    ("views-huge", ["search", "--evaluator.proxy.teacher_views=100000000"], "teacher_views=100000000", None, None),
    ("epochs-huge", ["search", "--evaluator.proxy.epochs=1e308"], "evaluator.proxy.epochs='1e308'", None, None),
    ("screen-factor-huge", ["search", "--evaluator.proxy.screen.factor=1000000000000"], "screen.factor=", None, None),
    ("target-huge", ["search", "--reward.target=1e308"], "reward.target='1e308'", None, None),
    ("val-frac-tiny", ["search", *SYN, "--data.val_fraction=1e-9"], "mini-val split of 'synthetic' holds 0", None,
     None),
    ("test-frac-tiny", [*TRAIN, "--loss", "ce", "--data.test_fraction=0.001"], "test split", None, None),
    ("train-seeds-huge", [*TRAIN, "--seeds", "0-100000000000"], "at most 1000 seeds", None, None),
    ("train-epochs-huge", [*TRAIN[:-3], "--loss", "ce", "--epochs", "1e308"], "'--epochs'", None, None),
    ("train-views-huge", [*TRAIN, "--loss", "ce", "--teacher_views=100000000"], "teacher_views=100000000", None, None),
    ("zerocost-batch-1", ["zerocost", "{tmp}", "--batch-size", "1"], "'--batch-size'", None, None),
    ("alias-bomb", ["search", "--config", "{bad}"], "expands to over 1,000,000 values", _alias_bomb, None),
    # table commands (check first, write last)
    ("compare-top-0", ["table", "compare", "{bad}", "{bad}", "--top", "0"], "'--top'", _table_file, None),
    ("compare-top-neg", ["table", "compare", "{bad}", "{bad}", "--top", "-3"], "'--top'", _table_file, None),
    ("compare-names", ["table", "compare", "{bad}", "{bad}", "--names", "a,b,c", "--out", "{tmp}/cmp"],
     "3 names (a, b, c) for 2 tables", _table_file, None),
    ("compare-binary", ["table", "compare", "{bad}", "{bad}", "--out", "{tmp}/cmp"], "not a text table",
     _file(b"\xff\xfe\x00\x81garbage"), None),
    ("export-out-dir", ["table", "export", "{run}", "--out", "{tmp}"], "is a directory; give a file path", None, None),
    # teacher commands, report, rank
    ("teacher-train-out-file", ["teacher", "train", "--dataset", "synthetic", "--out", "{bad}"], "is a file",
     _a_file, None),
    ("teacher-train-seeds", ["teacher", "train", "--seeds", "1,1", "--out", "{tmp}/t"], "bad seeds '1,1'", None, None),
    ("teacher-eval-split", ["teacher", "eval", "--teacher", "{teacher}", "--dataset", "synthetic", "--split", "dev"],
     "unknown split 'dev'", None, None),
    ("teacher-compare-out", ["teacher", "compare", "{teacher}", "--dataset", "synthetic", "--out", "{bad}"],
     "is a file", _a_file, None),
    ("report-not-run", ["report", "{tmp}"], "is not a", None, None),
    ("report-out-file", ["report", "{run}", "--out", "{bad}"], "is a file", _a_file, None),
    ("rank-no-archs", ["rank", "--archs", " , ", "-t", "{teacher}", "-t", "{teacher}"], "names no student", None, None),
    ("rank-channels-last", ["rank", "--archs", "resnet8", "-t", "{teacher}", "-t", "{teacher}", "--channels-last",
                            "always"], "channels_last='always'", None, None),
    ("rank-out-file", ["rank", "--archs", "resnet8", "-t", "{teacher}", "-t", "{teacher}", "--dataset", "synthetic",
                       "--out", "{bad}"], "is a file", _a_file, None),
]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, teacher_dir):
    """A finished tiny search, copied fresh for each case that uses one."""
    from distillnas.runconfig import load_search_config
    from distillnas.search import run_search

    run = tmp_path_factory.mktemp("finished") / "run"
    args = tiny_overrides(run, teacher_dir, trials=2, batch=2)
    run_search(load_search_config(None, args), progress=False)
    return run, args


def _cli(capsys, argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    captured = capsys.readouterr()
    return e.value.code, captured.out, captured.err


def _expand(argv, tmp, teacher, bad, run, run_args):
    out = []
    for a in argv:
        if a == "{run_args}":
            out.extend(run_args)
            continue
        out.append(a.format(tmp=tmp, teacher=teacher, bad=bad, run=run))
    return out


def test_the_table_is_large_enough():
    assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, capsys, tmp_path, teacher_dir, finished_run, monkeypatch):
    name, argv, fragment, prep, damage = case
    monkeypatch.chdir(tmp_path)  # a default runs/... directory lands here, never in the checkout
    bad = prep(tmp_path, teacher_dir) if prep else None
    uses_run = any("{run" in a for a in argv)
    run, run_args = finished_run
    if uses_run:
        copy = tmp_path / "run"
        shutil.copytree(run, copy)
        run, run_args = copy, [a.replace(str(finished_run[0]), str(copy)) for a in run_args]
        if damage:
            damage(run)
        before = _safe_rows(run)
        store_bytes = (run / "trials.sqlite").read_bytes()
    listing = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = _cli(capsys, _expand(argv, tmp_path, teacher_dir, bad, run, run_args))
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("distillnas: error: "), err
    assert fragment in err, err
    assert "Traceback" not in err + out
    assert not Path("/tmp/distillnas-pwned").exists()
    if not uses_run:  # nothing written: no run directory, no half-made output
        assert sorted(p.name for p in tmp_path.iterdir()) == listing
    elif damage in (_corrupt_store, _truncated_store):  # a corrupt store is refused, never rewritten
        assert (run / "trials.sqlite").read_bytes() == store_bytes
    elif damage is not None:  # refused without touching the trials
        assert _safe_rows(run) == before
    else:  # the run still resumes to exactly the trials it had
        code, out, err = _cli(capsys, ["search", "--no-progress", *run_args])
        assert code == 0, err
        assert "(0 evaluated now)" in out and rows(run) == before


def test_poisoned_run_is_not_poisoned(capsys, tmp_path, teacher_dir):
    """A wrong teacher path: exit 2 and nothing written; the corrected command then runs in
    the same directory. A run directory left by an older version, whose trials all failed on
    the setup, starts over with the corrected config."""
    run = tmp_path / "p"
    args = tiny_overrides(run, teacher_dir, trials=2, batch=2)
    wrong = [a if not a.startswith("--teacher.spec") else "--teacher.spec=[/no/teacher]" for a in args]
    code, _, err = _cli(capsys, ["search", "--no-progress", *wrong])
    assert code == 2 and "'/no/teacher'" in err and not run.exists()
    code, out, err = _cli(capsys, ["search", "--no-progress", *args])
    assert code == 0 and "(2 evaluated now)" in out, err
    # an old-style poisoned directory: a config with the wrong teacher and only failed trials
    import sqlite3

    import yaml

    from distillnas.runconfig import load_search_config
    cfg = load_search_config(None, args).model_dump()
    cfg["teacher"]["spec"] = ["/no/teacher"]
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    with sqlite3.connect(run / "trials.sqlite") as db:
        db.execute("UPDATE trials SET status = 'failed', accuracy = NULL, error = 'KeyError: teacher'")
    code, out, err = _cli(capsys, ["search", "--no-progress", *args])
    assert code == 0 and "(2 evaluated now)" in out and "starting it over" in err, err
    assert [r[3] for r in rows(run)] == ["ok", "ok"] and list(run.glob("trials-replaced-*.sqlite"))


def test_a_search_where_no_trial_succeeds_exits_non_zero(capsys, tmp_path, teacher_dir):
    args = tiny_overrides(tmp_path / "d", teacher_dir, trials=2, batch=2, extra=["--evaluator.proxy.lr=1e30"])
    code, out, _ = _cli(capsys, ["search", "--no-progress", *args])
    assert code == 1 and "no trial of" in out and "The first: " in out and "diverged" in out


def test_a_read_only_finished_run_still_prints_its_results(capsys, tmp_path, finished_run, monkeypatch):
    run = tmp_path / "ro"
    shutil.copytree(finished_run[0], run)
    args = [a.replace(str(finished_run[0]), str(run)) for a in finished_run[1]]
    if os.geteuid() == 0:  # root writes anywhere: make the directory look read-only to distillnas
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if (Path(p) == run and mode & os.W_OK)
                            else real(p, mode, **kw))
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    run.chmod(0o555)
    try:
        code, out, err = _cli(capsys, ["search", "--no-progress", *args])
        unfinished = [a if not a.startswith("--search.trials") else "--search.trials=4" for a in args]
        code2, _, err2 = _cli(capsys, ["search", "--no-progress", *unfinished])
    finally:
        run.chmod(0o755)
    assert code == 0 and "best students" in out and "read-only" in out, err
    assert code2 == 2 and "read-only and its search is unfinished (2 of 4 trials)" in err2
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_ctrl_c_prints_how_to_resume_and_exits_130(tmp_path, teacher_dir):
    run = tmp_path / "c"
    args = ["search", "--no-progress", *tiny_overrides(run, teacher_dir, trials=40, batch=2)]
    # the child gets Ctrl-C's default disposition: a pytest started in the background (SIGINT
    # ignored, inherited) would otherwise hand the search an ignored SIGINT, which it rightly keeps
    proc = subprocess.Popen([sys.executable, "-m", "distillnas", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (run / "trials.sqlite").exists() and len(_safe_rows(run)) >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    n = len(rows(run))
    assert f"interrupted after {n} trials; run the same command to resume" in err and "Traceback" not in err
    assert sorted((b, s) for b, s, *_ in rows(run)) == sorted(set((b, s) for b, s, *_ in rows(run)))


def _safe_rows(run):
    import sqlite3
    try:
        return rows(run)
    except sqlite3.DatabaseError:  # no tables yet, or not a database at all
        return []


@pytest.mark.parametrize("in_memory", [True, False])
def test_unreadable_images_are_skipped_with_a_count(capsys, tmp_path, in_memory):
    from distillnas.cli.app import _setup_logging
    from distillnas.data import load_dataset

    root = _imagefolder({"a": 3, "b": 3})(tmp_path, tmp_path)
    (root / "train" / "a" / "1.png").write_bytes(b"not a png at all")
    (root / "val" / "b" / "0.png").write_bytes(b"\x89PNG truncated")
    _setup_logging()
    ds = load_dataset("imagefolder", str(root), image_size=8, in_memory=in_memory, workers=0)
    err = capsys.readouterr().err
    assert len(ds) == 10 and "skipped 2 unreadable image(s)" in err and "1.png" in err
    assert ds.test_start == 5 and ds.labels.tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 1, 1]


@pytest.mark.parametrize("in_memory", [True, False])
def test_a_class_with_no_readable_image_is_refused_naming_it(capsys, tmp_path, in_memory):
    root = _imagefolder({"a": 3, "b": 3})(tmp_path, tmp_path)
    for f in (root / "train" / "b").iterdir():
        f.write_bytes(b"garbage")
    code, _, err = _cli(capsys, ["search", "--data.name=imagefolder", f"--data.root={root}",
                                 f"--data.in_memory={str(in_memory).lower()}", f"--run-dir={tmp_path / 'run'}"])
    assert code == 2 and "holds no readable image" in err and str(root / "train" / "b") in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_top_beyond_best_yaml_warns_and_out_is_honoured(capsys, tmp_path, finished_run):
    code, out, err = _cli(capsys, ["train", "--from-run", str(finished_run[0]), "--top", "9", "--epochs", "0.2",
                                   "--seeds", "0", "--out", str(tmp_path / "students"), "--no-progress"])
    n = len(__import__("yaml").safe_load((finished_run[0] / "best.yaml").read_text())["archs"])
    assert code == 0 and "--top 9, but" in err and f"holds {n} arch(s)" in err
    assert len(list((tmp_path / "students").glob("*.pt"))) == n
    page = finished_run[0] / "report" / "index.html"  # the report is rewritten with the retrained students
    assert "report (with the retrained students)" in out and page.is_file() and "Retrained students" in page.read_text()


def test_search_help_lists_every_packaged_config(capsys):
    from distillnas.runconfig import packaged_configs

    code, out, _ = _cli(capsys, ["search", "--help"])
    assert code == 0 and all(name in out for name in packaged_configs())


def test_a_worker_that_cannot_load_the_setup_raises_instead_of_storing_a_failure(tmp_path):
    from distillnas.errors import SetupError
    from distillnas.config import CostConfig, DataConfig
    from distillnas.evaluators import EvalContext, ProxyEvaluatorConfig, evaluate_trial
    from distillnas.spaces import MnasNetConfig

    ctx = EvalContext(space=MnasNetConfig(blocks=2), data=DataConfig(name="cifar10", root=str(tmp_path / "not-mounted")),
                      evaluator=ProxyEvaluatorConfig(), cost=CostConfig(latency="none"), teacher=None)
    with pytest.raises(SetupError, match="cannot load the search's data or teacher"):
        evaluate_trial(ctx, (0,) * 12, 0)


@pytest.mark.parametrize("address,says", [("127.0.0.1:1", "no Ray cluster answers at 127.0.0.1:1"),
                                          ("not an address", "is not a Ray address"),
                                          ("host:99999", "is not a Ray address")])
def test_an_unreachable_or_malformed_ray_address_is_one_line_before_the_run_directory(capsys, tmp_path, address, says):
    import time
    start = time.monotonic()
    code, _, err = _cli(capsys, ["search", "--executor", "ray", "--ray-address", address,
                                 f"--run-dir={tmp_path / 'run'}", "--search.trials=2"])
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists() and time.monotonic() - start < 60


def test_a_retraining_of_another_recipe_never_overwrites_and_the_report_keeps_recipes_apart(capsys, tmp_path,
                                                                                             finished_run):
    from distillnas.analysis import load_run
    from distillnas.analysis.report import finals_by_arch, finals_by_recipe

    run = tmp_path / "run"
    shutil.copytree(finished_run[0], run)
    base = ["train", "--from-run", str(run), "--top", "1", "--seeds", "0", "--no-progress"]
    for epochs in ("0.2", "0.4"):  # two recipes, default folders: RUN/students/kd-e0.2, kd-e0.4
        code, _, err = _cli(capsys, [*base, "--epochs", epochs])
        assert code == 0, err
    assert sorted(p.name for p in (run / "students").iterdir()) == ["kd-e0.2", "kd-e0.4"]
    first = next((run / "students" / "kd-e0.2").glob("*.pt")).read_bytes()
    shared = tmp_path / "shared"
    assert _cli(capsys, [*base, "--epochs", "0.2", "--out", str(shared)])[0] == 0
    code, _, err = _cli(capsys, [*base, "--epochs", "0.4", "--out", str(shared)])  # another recipe, same --out
    assert code == 2 and "was trained with another recipe" in err and "0.2 epochs" in err
    assert next((run / "students" / "kd-e0.2").glob("*.pt")).read_bytes() == first
    data = load_run(run)
    first, recipes = next(iter(finals_by_recipe(data).items()))
    assert sorted(recipes) == ["kd, 0.2 ep", "kd, 0.4 ep"] and len(recipes["kd, 0.2 ep"]) >= 2
    same_length = finals_by_arch(data)  # KD against CE at one length (here the most frequent, 0.2): never mixed
    assert len(same_length[first]["kd"]) == len(recipes["kd, 0.2 ep"])


def test_a_scheme_option_given_with_another_scheme_is_named_in_a_warning(capsys, tmp_path):
    code, _, err = _cli(capsys, [*TRAIN, "--loss", "ce", "--assistant", "resnet20", "--peers", "3",
                                 "--out", str(tmp_path)])
    assert code == 0, err
    assert "--assistant ignored: it applies to --scheme takd, not single" in err
    assert "--peers ignored: it applies to --scheme dml, not single" in err


def test_a_full_disk_is_named_as_such_and_leaves_no_partial_file(tmp_path, monkeypatch):
    import errno

    import distillnas.io as dio
    from distillnas.errors import DistillnasError

    target = tmp_path / "model.pt"

    def full(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")
    monkeypatch.setattr(dio, "disk_full", lambda folder, margin=1 << 20: True)
    with pytest.raises(DistillnasError, match="no space left on device writing"):
        dio.atomic_write(target, full)
    assert list(tmp_path.iterdir()) == []  # neither the target nor the temporary file

    def enospc(tmp):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(dio, "disk_full", lambda folder, margin=1 << 20: False)
    with pytest.raises(DistillnasError, match="no space left on device"):
        dio.atomic_write(target, enospc)
    with pytest.raises(RuntimeError, match="something else"):  # other failures stay what they are
        dio.atomic_write(target, lambda tmp: (_ for _ in ()).throw(RuntimeError("something else")))
    with pytest.raises(DistillnasError, match="is a directory; give a file path"):
        dio.atomic_write(tmp_path, lambda tmp: None)


def test_a_store_that_fills_the_disk_says_so_and_not_corrupt(tmp_path, capsys, monkeypatch):
    import sqlite3

    import importlib

    from distillnas.errors import DistillnasError
    from distillnas.store import TrialStore

    store = TrialStore(tmp_path / "trials.sqlite")
    store.close()

    class Full(sqlite3.OperationalError):
        sqlite_errorcode = sqlite3.SQLITE_FULL

    def connect(*a, **k):
        raise Full("database or disk is full")
    monkeypatch.setattr(sqlite3, "connect", connect)
    with pytest.raises(DistillnasError, match="no space left on the device holding the run store") as e:
        TrialStore(tmp_path / "trials.sqlite")
    assert "corrupt" not in str(e.value)

    def search(*a, **k):  # a failure mid-run, past the checks
        raise Full("database or disk is full")
    monkeypatch.setattr(importlib.import_module("distillnas.cli.app"), "app", search)
    code, _, err = _cli(capsys, ["search"])
    assert code == 2 and "no space left on the device holding the run directory" in err and "corrupt" not in err


def test_under_torchrun_only_rank_0_prints_the_error(capsys, monkeypatch):
    for rank, printed in (("1", False), ("0", True)):
        monkeypatch.setenv("RANK", rank)
        code, _, err = _cli(capsys, ["search", "--search.trials=0"])
        assert code == 2 and ("search.trials=0" in err) == printed and (err == "") != printed


def test_a_bare_on_or_off_means_the_switch_not_a_boolean():
    """YAML 1.1 reads `off` as false: auto | on | off settings take it as the word it was."""
    from distillnas.errors import DistillnasError
    from distillnas.recipe import TrainConfig
    from distillnas.section import validate

    cfg = validate(TrainConfig, {"compile": False, "channels_last": True})
    assert (cfg.compile, cfg.channels_last) == ("off", "on")
    with pytest.raises(DistillnasError, match="'auto', 'on' or 'off'"):
        validate(TrainConfig, {"compile": "maybe"})
