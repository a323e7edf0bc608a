"""Progress a log file can follow: plain lines when stdout is not a terminal."""
from distillnas.progress import _LogBar, progress_bar


def test_log_bar_prints_plain_lines_with_eta(capsys):
    bar = _LogBar("resnet20 ce seed 0", total=4, done=1, every=0)
    bar.advance(loss=1.5)
    bar.advance(loss=1.25)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("resnet20 ce seed 0: 2/4 (50%)  loss 1.5  elapsed")
    assert lines[1].startswith("resnet20 ce seed 0: 3/4 (75%)  loss 1.25") and "eta" in lines[1]
    assert "\x1b" not in "".join(lines)  # no terminal control codes in a log


def test_log_bar_is_quiet_between_intervals_but_reports_the_end(capsys):
    bar = _LogBar("x", total=3, every=3600)
    bar.advance()
    bar.advance()
    assert capsys.readouterr().out == ""
    bar.advance()
    assert capsys.readouterr().out.startswith("x: 3/3 (100%)")


def test_log_bar_past_its_total_says_why_and_never_a_negative_eta(capsys):
    bar = _LogBar("search", total=2, every=0)
    for _ in range(3):  # a search's last bracket finishes past the budget
        bar.advance()
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("search: 3/2 (100%, finishing the last bracket)") and last.endswith("eta 0 s")


def test_progress_bar_off_prints_nothing(capsys):
    with progress_bar(False, "x", 2) as bar:
        bar.advance()
        bar.set_total(5)
    assert capsys.readouterr().out == ""


def test_progress_bar_in_a_pipe_is_a_log_bar():
    with progress_bar(True, "x", 2) as bar:  # pytest captures stdout: not a terminal
        assert isinstance(bar, _LogBar)


def test_search_progress_in_a_log_file_prints_plain_lines(tmp_path, capsys):
    from distillnas.progress import SearchProgress
    from distillnas.reward import RewardConfig
    from distillnas.store import TrialStore

    store = TrialStore(tmp_path / "trials.sqlite")
    reward = RewardConfig(metric="params", reference=None, target=100.0)
    with SearchProgress(True, 2, store, reward) as bar:
        bar.log.every = 0
        bar.update({"status": "ok", "accuracy": 0.5, "params": 50, "macs": 1, "latency_ms": 1.0, "extra": {}})
        bar.update({"status": "ok", "accuracy": 0.7, "params": 50, "macs": 1, "latency_ms": 1.0, "extra": {}})
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("search: 2/2 (100%)  best reward 0.7") and "failed 0" in lines[-1]
    store.close()
