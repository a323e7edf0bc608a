import json
import re

import numpy as np
import pytest
import yaml

from distillnas.analysis import (ablation_grid, build_report, distribution_matrices, gains_by_stage, kendall_tau,
                                 load_run, option_difference, pareto_front, pca)
from distillnas.config import SearchConfig, validate
from distillnas.errors import DistillnasError
from distillnas.spaces import space_from_config
from distillnas.store import TrialStore

from test_cli import run


def test_metrics_by_hand():
    assert pareto_front([1, 2, 3, 2.5], [0.5, 0.7, 0.9, 0.6]) == [0, 1, 2]
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)  # 2 concordant, 1 discordant
    gains = gains_by_stage({"a": (0.9, 0.8, 1)}, {"b": (0.85, 0.8, 1), "c": (0.7, 0.8, 2)})
    assert gains == [{"stage": 1, "pairs": 1, "mean_gain": pytest.approx(0.05), "winning_ratio": 1.0}]
    rows = option_difference(np.array([[1, 0], [1, 0]]), np.array([[0, 1], [1, 0]]), ["x", "y"])
    assert rows[0]["diff"] == pytest.approx(0.5) and {r["option"] for r in rows} == {"x", "y"}
    p = np.array([[0.5, 0.5], [0.9, 0.1]])
    m = distribution_matrices([p, np.array([[1.0, 0.0], [0.0, 1.0]])])
    assert np.allclose(np.diag(m["kl"]), 0) and m["agreement"][0, 1] == pytest.approx(0.5)
    assert m["l2"][0, 1] == pytest.approx((np.sqrt(0.5) + np.sqrt(0.81 + 0.81)) / 2)
    proj, ratio = pca(np.array([[0, 0], [1, 1], [2, 2], [3, 3.0]]))
    assert ratio[0] == pytest.approx(1.0)


def make_run(path, guided_by, seed, space_cfg=None, n=60, finals=True, status="ok"):
    """A synthetic run directory: a config, n stored trials and some final retrainings."""
    space_cfg = space_cfg or {"name": "mnasnet", "blocks": 3}
    cfg = validate(SearchConfig, {"name": path.name, "space": space_cfg,
                                  "evaluator": {"proxy": {"loss": {"name": guided_by}}},
                                  "reward": {"metric": "latency_ms", "target": 2.0}})
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump()))
    space = space_from_config(cfg.space)
    rng = np.random.default_rng(seed)
    store = TrialStore(path / "trials.sqlite")
    archs = []
    for i in range(n):
        tokens = space.sample(rng)
        arch = space.to_string(tokens)
        archs.append(arch)
        store.add_trial(i // 8, i % 8, {"arch": arch, "tokens": tokens, "status": status,
                                        "accuracy": float(rng.uniform(0.6, 0.95)), "params": int(rng.integers(1e4, 1e5)),
                                        "macs": int(rng.integers(1e6, 1e7)), "latency_ms": float(rng.uniform(0.5, 4)),
                                        "wall_s": 1.0})
    for b in range((n + 7) // 8):
        store.add_batch_stats(b, {"entropy": 1.5 - 0.1 * b})
    if finals:
        for arch in archs[:3] + archs[-3:]:
            for loss in ("ce", "kd"):
                for s in (0, 1):
                    store.add_final(arch, loss, s, "ok", float(rng.uniform(0.8, 0.95)), 5000, 1.0, None)
    store.close()
    (path / "best.yaml").write_text(yaml.safe_dump({"space": space.config(), "archs": [
        {"arch": archs[0], "tokens": list(space.from_string(archs[0])), "reward": 0.9, "accuracy": 0.9, "params": 1,
         "macs": 1, "latency_ms": 1.0}]}))
    return path


def test_report_builds_every_figure_and_table(tmp_path):
    a = make_run(tmp_path / "kd_run", "kd", 0)
    b = make_run(tmp_path / "ce_run", "ce", 1)
    page = build_report([a, b], tmp_path / "rep")
    html = page.read_text()
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) == 2 * 5 + 2  # 5 per run + PCA + options
    assert "controller&#x27;s entropy" in html and "Entropy per decision" in html
    for name in ("kd_run_cost_hist.png", "kd_run_acc_vs_cost.png", "kd_run_progress.png", "kd_run_macs_latency.png",
                 "kd_run_dynamics.png",
                 "pca_by_stage.png", "option_difference.png", "option_difference.csv", "relative_gain.csv",
                 "ablation.csv", "ce_run_trials.csv"):
        assert (tmp_path / "rep" / name).stat().st_size > 0, name
    grid = ablation_grid([load_run(a), load_run(b)])
    assert [g["searched by"] for g in grid] == ["ce", "kd"] and "trained by kd" in grid[0]
    assert "Relative performance gain" in html and "mean_gain" in html


def test_report_errors(tmp_path, capsys):
    with pytest.raises(DistillnasError, match="is not a run directory"):
        build_report([tmp_path])
    failed = make_run(tmp_path / "failed", "kd", 0, status="failed", finals=False)
    with pytest.raises(DistillnasError, match="no finished trials"):
        build_report([failed])
    a = make_run(tmp_path / "a", "kd", 0)
    b = make_run(tmp_path / "b", "ce", 1, space_cfg={"name": "resnet_depth"})
    with pytest.raises(DistillnasError, match="different search spaces"):
        build_report([a, b])
    code, _, err = run(capsys, "report", str(tmp_path))
    assert code == 2 and "is not a run directory" in err


def test_teacher_compare_and_rank_on_the_cli(capsys, tmp_path, teacher_dir):
    single = str(sorted(teacher_dir.glob("*.pt"))[0])
    code, out, err = run(capsys, "teacher", "compare", str(teacher_dir), single, "--dataset", "synthetic",
                         "--out", str(tmp_path / "cmp"))
    assert code == 0, err
    assert "top-1 agreement" in out and "oracle" in out and (tmp_path / "cmp" / "kl.png").is_file()
    assert json.loads((tmp_path / "cmp" / "ensembles.json").read_text())
    code, _, err = run(capsys, "rank", "--archs", "resnet8-w0.25,resnet-1-1-2-w0.25", "--teachers", single,
                       "--dataset", "synthetic")
    assert code == 2 and "at least two teachers" in err
    code, out, err = run(capsys, "rank", "--archs", "resnet8-w0.25,resnet-1-1-2-w0.25", "--teachers", single,
                         "--teachers", str(teacher_dir), "--dataset", "synthetic", "--epochs", "1", "--no-progress",
                         "--out", str(tmp_path / "rank"))
    assert code == 0, err
    saved = json.loads((tmp_path / "rank" / "rank.json").read_text())
    assert set(saved["scores"]) == {"ce", single, str(teacher_dir)} and "Kendall tau" in out


def test_report_cells_format_by_column_and_break_archs_between_blocks():
    from distillnas.analysis.report import _cell

    assert _cell("top-1 (%)", 94.0, "{:.4g}") == "94.00" and _cell("proxy top-1 (%)", 95.5, "{:.4g}") == "95.50"
    assert _cell("params", 1234567, "{:.4g}") == "1,234,567" and _cell("reward", 1.04461, "{:.4g}") == "1.045"
    cell = _cell("arch", "mb6_k5_se0_id_w1_d0|dconv_k3_se0_id_w1_d0", "{:.4g}")
    assert cell == '<span class="tok">mb6_k5_se0_id_w1_d0</span>|<wbr><span class="tok">dconv_k3_se0_id_w1_d0</span>'
    assert _cell("arch", "<b>", "{:.4g}") == "&lt;b&gt;"


def test_the_report_explains_entropy_and_warns_of_an_early_deterministic_policy(tmp_path):
    from distillnas.analysis.report import entropy_note

    run = load_run(make_run(tmp_path / "kd_run", "kd", 0))
    assert "nats for uniform sampling" in entropy_note(run)
    run.batch_stats = {b: {"entropy": 0.03 if b else 0.9} for b in range(10)}
    run.space = type("Big", (), {"sizes": run.space.sizes, "cardinality": 10**6})()
    note = entropy_note(run)
    assert "near-deterministic (0.030 nats per decision) by batch 1 of 10" in note
    assert "--strategy.ppo.backtrack=true" in note and "tpe" in note  # what to try instead
    run.batch_stats = {b: {"entropy": 0.9 - 0.05 * b} for b in range(10)}
    assert "Warning" not in entropy_note(run)


def test_a_table_shows_every_rows_columns_and_a_dash_where_one_is_missing():
    from distillnas.analysis.report import _table

    page = _table([{"arch": "a", "kd, 0.2 ep": "90.00 ± 1.00"}, {"arch": "b", "kd, 0.4 ep": "91.00 ± 0.50"}])
    assert page.count("<th>") == 3 and "<td>-</td>" in page and "91.00 ± 0.50" in page
