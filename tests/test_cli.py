import json
import re

import pytest
import typer

from distillnas.cli import main
from distillnas.cli.options import parse_seeds
from distillnas.errors import DistillnasError


def run(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def test_teacher_train_then_student_train_and_eval(capsys, tmp_path):
    code, out, _ = run(capsys, "teacher", "train", "--arch", "resnet8-w0.25", "--seeds", "0-1", "--dataset",
                       "synthetic", "--out", str(tmp_path / "t"), "--epochs", "2", "--optim.batch_size=32", "--no-progress")
    assert code == 0 and "oracle" in out and len(list((tmp_path / "t").glob("*.pt"))) == 2
    code, out, _ = run(capsys, "train", "--arch", "resnet8-w0.25", "--teacher", str(tmp_path / "t"), "--loss", "od",
                       "--epochs", "1", "--seeds", "0,1", "--dataset", "synthetic", "--out", str(tmp_path / "s"),
                       "--optim.batch_size=32", "--no-progress")
    assert code == 0 and "±" in out
    results = json.loads((tmp_path / "s" / "results.json").read_text())
    assert [r["seed"] for r in results] == [0, 1] and all(r["status"] == "ok" for r in results)
    code, out, _ = run(capsys, "teacher", "eval", "--teacher", str(tmp_path / "t"), "--dataset", "synthetic")
    assert code == 0 and "average logits" in out


@pytest.mark.parametrize("argv,msg", [
    (["train", "--arch", "vgg", "--dataset", "synthetic"], "unknown model family 'vgg'"),
    (["train", "--arch", "resnet8", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (["train", "--arch", "resnet8", "--loss", "kld", "--dataset", "synthetic"], "unknown loss 'kld'"),
    (["train", "--arch", "resnet8", "--dataset", "cifar10", "--data-root", "/"], "not in the cifar10 python layout"),
    (["train", "--arch", "resnet8", "--dataset", "synthetic", "--augment=mixup"], "augment='mixup'"),
    (["train", "--arch", "resnet8", "--dataset", "synthetic", "--seeds", "x"], "bad seeds 'x'"),
    (["train", "--arch", "mb6_k3", "--space", "mnasnet", "--loss", "ce", "--dataset", "synthetic"],
     "has 1 blocks; this space has 7"),
    (["train", "--arch", "resnet-2-3-5", "--space", "resnet_depth", "--loss", "ce", "--dataset", "synthetic"],
     "depth=2 is not in the space"),
    (["train", "--arch", "x", "--space", "mnasnet", "--space.colour=red", "--dataset", "synthetic"],
     "unknown config key 'space.colour'"),
    (["search", "--search.batch_size=0"], "bad config value search.batch_size=0"),
    (["search", "--reward.target=-1"], "bad config value reward.target=-1"),
    (["search", "--serch.trials=3"], "unknown config key 'serch' (did you mean 'search'?)"),
    (["search", "--config", "nope.yaml"], "neither a file nor a packaged config"),
    (["search", "--trials"], "bad override '--trials'"),
    (["train", "--from-run", "/"], "is not a run directory"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, msg):
    code, _, err = run(capsys, *argv)
    assert code == 2 and msg in err and err.count("\n") == 1 and "Traceback" not in err


def test_truncated_teacher_checkpoint_on_the_cli(capsys, tmp_path):
    bad = tmp_path / "t.pt"
    bad.write_bytes(b"PK\x03\x04 not really")
    code, _, err = run(capsys, "train", "--arch", "resnet8", "--teacher", str(bad), "--dataset", "synthetic")
    assert code == 2 and "truncated or unreadable" in err


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4] and parse_seeds("3,1") == [3, 1]
    with pytest.raises(DistillnasError):
        parse_seeds("1,1")


def test_train_a_searched_arch_string(capsys, tmp_path):
    arch = "dconv_k3_se0_id_w1_d0|dconv_k3_se0_pool_w0.75_d+1"
    code, out, err = run(capsys, "train", "--arch", arch, "--space", "mnasnet", "--space.blocks=2",
                         "--loss", "ce", "--epochs", "1", "--dataset", "synthetic", "--out", str(tmp_path), "--no-progress")
    assert code == 0, err
    from distillnas.checkpoint import load_student
    model, meta = load_student(next(tmp_path.glob("mnasnet-*.pt")))
    assert meta["arch"] == arch and meta["space"] == {"name": "mnasnet", "preset": "tiny", "blocks": 2}


def _commands(group, path=()):
    """Every command path of a click group, depth first."""
    import typer

    from distillnas.cli.app import app

    root = group if group is not None else typer.main.get_command(app)
    for name, cmd in getattr(root, "commands", {}).items():
        yield (*path, name)
        yield from _commands(cmd, (*path, name))


def test_every_help_page_reads_plainly(capsys, monkeypatch):
    """No `{ARG}` braces, no `<bool>` beside a flag, and no text swallowed as rich markup (a
    `[default: ...]` note vanished and left ' .' behind; `distillnas[dashboard]` lost its extra) on any command's --help."""
    monkeypatch.setenv("COLUMNS", "200")  # one line per option: artefacts are not hidden by wrapping
    pages = 0
    for path in _commands(None):
        code, out, _ = run(capsys, *path, "--help")
        assert code == 0, path
        usage = next(line for line in out.splitlines() if "Usage:" in line)
        assert "{" not in usage, (path, usage)
        assert "<bool>" not in out, path
        swallowed = [x for x in out.splitlines() if re.search(r" \.(\s|│|$)", x)]
        assert not swallowed, (path, swallowed)
        from distillnas.cli.app import app

        cmd = _lookup(typer.main.get_command(app), path)
        flat = re.sub(r"[\s│]+", " ", out)
        for bracketed in re.findall(r"\w\[\w+\]", (cmd.help or "").replace("\\[", "[")):  # pip extras
            assert bracketed in flat, (path, bracketed)
        pages += 1
    assert pages >= 15
    _, out, _ = run(capsys, "train", "--help")
    assert "(default: 30; with --from-run" in out  # the default epochs are stated


def test_command_lists_show_each_summary_as_one_paragraph(capsys, monkeypatch):
    """A group's command list joins the docstring's single line breaks (typer's rich mode kept
    them, so summaries broke mid-sentence): on a wide terminal a summary is one line."""
    import typer

    from distillnas.cli.app import app

    monkeypatch.setenv("COLUMNS", "1000")
    root = typer.main.get_command(app)
    groups = [(), *[p for p in _commands(None) if getattr(_lookup(root, p), "commands", None)]]
    assert len(groups) >= 3
    for path in groups:
        _, out, _ = run(capsys, *path, "--help")
        for name, cmd in _lookup(root, path).commands.items():
            first = " ".join((cmd.help or "").split("\n\n")[0].split())
            row = next(line for line in out.splitlines() if re.match(rf"[│\s]*{name}\s", line))
            assert first[:120] in " ".join(row.split()), (path, name, row)


def _lookup(root, path):
    """The click command at PATH under ROOT."""
    for name in path:
        root = root.commands[name]
    return root
