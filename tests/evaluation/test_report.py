"""`report` on hand-made run folders: known means, stds, deltas; valid PNGs; keyed, not positional."""

import json
import struct
import subprocess
import sys

import pytest

from fsa_distill.errors import FsaError
from fsa_distill.evaluation.report import write_report


def make_run(root, label, task, ds, seed, f1s: dict, curve=True):
    d = root / label / f"{task}-{ds}-seed{seed}"
    d.mkdir(parents=True)
    (d / "run_info.json").write_text(json.dumps({"kind": "finetune", "label": label, "model": label, "task": task,
                                                  "dataset": ds, "seed": seed}))
    (d / "metrics.json").write_text(json.dumps({v: {"precision": f, "recall": f, "f1": f} for v, f in f1s.items()}))
    if curve:
        (d / "dev_curve.json").write_text(json.dumps([{"epoch": 1, "dev_f1": 0.2}, {"epoch": 2, "dev_f1": 0.3}]))
    return d


@pytest.fixture
def runs(tmp_path):
    # baseline F1 (normal) 0.50, 0.52, 0.54 ; distilled 0.55, 0.58, 0.57 -> deltas 5, 6, 3
    for seed, b, d in [(42, 0.50, 0.55), (52, 0.52, 0.58), (62, 0.54, 0.57)]:
        make_run(tmp_path, "baseline", "atsa", "rest14", seed, {"normal": b, "hard": b - 0.1})
        make_run(tmp_path, "distilled", "atsa", "rest14", seed, {"normal": d, "hard": d - 0.2})
    # a second dataset written in a different order must not shift any column
    make_run(tmp_path, "distilled", "acsa", "rest16", 42, {"normal": 0.70})
    return tmp_path


def test_means_stds_and_deltas(runs, tmp_path):
    result = write_report([runs], tmp_path / "rep", baseline="baseline")
    rows = {(r["model"], r["task"], r["dataset"], r["view"]): r for r in result["rows"]}
    b = rows[("baseline", "atsa", "rest14", "normal")]
    assert b["seeds"] == 3 and b["f1_mean"] == pytest.approx(52.0) and b["f1_std"] == pytest.approx(2.0)
    d = rows[("distilled", "atsa", "rest14", "normal")]
    assert d["f1_mean"] == pytest.approx(56.6667, abs=1e-3)
    assert rows[("distilled", "acsa", "rest16", "normal")]["f1_mean"] == pytest.approx(70.0)
    deltas = {(x["dataset"], x["view"]): x for x in result["deltas"]}
    n = deltas[("rest14", "normal")]
    assert n["delta_mean"] == pytest.approx(14 / 3) and n["seeds"] == 3
    from scipy import stats

    assert n["p_value"] == pytest.approx(stats.ttest_rel([0.55, 0.58, 0.57], [0.50, 0.52, 0.54]).pvalue)
    assert n["ci95"][0] <= n["delta_mean"] <= n["ci95"][1]
    assert deltas[("rest14", "hard")]["delta_mean"] == pytest.approx(14 / 3 - 10)
    assert ("rest16", "normal") not in deltas  # no baseline run there


def test_outputs_and_pngs(runs, tmp_path):
    out = tmp_path / "rep"
    result = write_report([runs], out, baseline="baseline")
    for name in ("report.md", "report.csv", "report.tex", "report.json"):
        assert (out / name).stat().st_size > 0
    assert "f1_by_view.png" in result["plots"] and "dev_curves.png" in result["plots"]
    for png in result["plots"]:
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        w, h = struct.unpack(">II", data[16:24])
        assert w > 100 and h > 100
    md = (out / "report.md").read_text()
    assert "| distilled | atsa/rest14 | normal | 3 | 56.67 ± 1.53 |" in md


def test_no_runs_is_a_clear_error(tmp_path):
    with pytest.raises(FsaError, match="no finished runs"):
        write_report([tmp_path], tmp_path / "rep")


def test_report_cli(runs, tmp_path):
    r = subprocess.run([sys.executable, "-m", "fsa_distill.cli", "report", str(runs), "--output", str(tmp_path / "o"),
                        "--baseline", "baseline"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Paired differences" in r.stdout and (tmp_path / "o" / "f1_by_view.png").exists()


def test_dev_curves_are_on_the_test_scale_by_model_and_dataset(runs):
    """Dev F1 in 0-100 (as the tables), grouped by (task, dataset, fraction) and model, a curve per seed."""
    from fsa_distill.evaluation.plots import dev_curve_series
    from fsa_distill.runs import find_runs

    series = dev_curve_series(find_runs([runs]))
    curves = series[("atsa", "rest14", 1.0), "distilled"]
    assert len(curves) == 3 and curves[0] == [(1, pytest.approx(20.0)), (2, pytest.approx(30.0))]
    assert (("acsa", "rest16", 1.0), "distilled") in series


def test_one_seed_prints_no_ci_and_no_p(tmp_path):
    make_run(tmp_path, "baseline", "atsa", "rest14", 42, {"normal": 0.50})
    make_run(tmp_path, "distilled", "atsa", "rest14", 42, {"normal": 0.55})
    result = write_report([tmp_path], tmp_path / "rep", baseline="baseline")
    (d,) = result["deltas"]
    assert d["seeds"] == 1 and d["ci95"] is None and d["p_value"] is None
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| distilled | baseline | atsa/rest14 | normal | 1 seed | +5.00 | – | – | – |" in md
    assert "| distilled | atsa/rest14 | normal | 1 seed | 55.00 ± – |" in md  # no std from one seed
    assert "[+5.00, +5.00]" not in md


def test_fractions_are_keyed_apart_and_per_seed_table(tmp_path):
    for frac, base in ((1.0, 0.60), (0.1, 0.30)):
        for seed, gain in ((42, 0.02), (52, 0.04)):
            for label, f1 in (("baseline", base), ("distilled", base + gain)):
                d = make_run(tmp_path / f"f{frac}", label, "atsa", "rest14", seed, {"normal": f1})
                info = json.loads((d / "run_info.json").read_text())
                (d / "run_info.json").write_text(json.dumps({**info, "data_fraction": frac}))
    result = write_report([tmp_path], tmp_path / "rep", baseline="baseline")
    rows = {(r["model"], r["train_fraction"]): r["f1_mean"] for r in result["rows"]}
    assert rows[("baseline", 1.0)] == pytest.approx(60.0) and rows[("baseline", 0.1)] == pytest.approx(30.0)
    deltas = {d["train_fraction"]: d for d in result["deltas"]}
    assert deltas[0.1]["delta_mean"] == pytest.approx(3.0) and deltas[0.1]["seeds"] == 2
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| baseline | atsa/rest14 @10% train | normal | 2 | 30.00 ± 0.00 |" in md
    assert "## F1 per seed" in md and "| distilled | atsa/rest14 @10% train | 52 | – | – | 34.00 |" in md
    assert "delta_by_view.png" in result["plots"]
    seeds_csv = (tmp_path / "rep" / "report_seeds.csv").read_text().splitlines()
    assert seeds_csv[0].startswith("model,task,dataset,train_fraction,seed") and len(seeds_csv) == 9


def test_cost_table_sums_stage_wall_time_over_seeds(tmp_path):
    for seed in (42, 52):
        d = make_run(tmp_path / "runs", "baseline", "atsa", "rest14", seed, {"normal": 0.5})
        info = json.loads((d / "run_info.json").read_text())
        info.update(timing={"total_s": 90.0}, steps=10, environment={"device": "cpu (x86_64)"})
        (d / "run_info.json").write_text(json.dumps(info))
    pre = tmp_path / "pretrain-1"
    pre.mkdir()
    (pre / "summary.json").write_text(json.dumps({"steps": 200, "wall_time_s": 600.0}))
    result = write_report([tmp_path / "runs"], tmp_path / "rep", extra_dirs={str(pre): "pretrain distilled"})
    md = result["markdown"]
    assert "| pretrain | pretrain distilled | 1 | 200 | 10.0 | – |" in md
    assert "| finetune | baseline atsa/rest14 | 2 | 20 | 3.0 | cpu (x86_64) |" in md


def test_holm_on_a_known_case():
    from fsa_distill.evaluation.tables import holm

    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.01, None, 0.5]) == [pytest.approx(0.02), None, pytest.approx(0.5)]  # None is not in the family
    assert holm([0.6, 0.7]) == [1.0, 1.0]  # capped at 1
    assert holm([]) == []


def test_report_writes_holm_beside_the_raw_p(tmp_path):
    """Two models against one baseline on one view: a family of 2 (the per-view family)."""
    for seed, b, d, e in [(42, 0.50, 0.55, 0.51), (52, 0.52, 0.58, 0.50), (62, 0.54, 0.57, 0.56)]:
        make_run(tmp_path / "r", "baseline", "atsa", "rest14", seed, {"normal": b})
        make_run(tmp_path / "r", "distilled", "atsa", "rest14", seed, {"normal": d})
        make_run(tmp_path / "r", "other", "atsa", "rest14", seed, {"normal": e})
    result = write_report([tmp_path / "r"], tmp_path / "rep", baseline="baseline")
    by = {d["model"]: d for d in result["deltas"]}
    ps = sorted([by["distilled"]["p_value"], by["other"]["p_value"]])
    low = min(by.values(), key=lambda d: d["p_value"])
    high = max(by.values(), key=lambda d: d["p_value"])
    assert low["p_holm"] == pytest.approx(min(1.0, 2 * ps[0]))
    assert high["p_holm"] == pytest.approx(max(min(1.0, 2 * ps[0]), ps[1]))
    assert all(d["holm_family"] == 2 for d in by.values())
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "p (Holm)" in md and f"{low['p_holm']:.3f}" in md


def test_a_model_can_have_its_own_baseline(tmp_path):
    """An extractive variant is compared with the plain extractive student, not the global baseline."""
    for seed, b, t, td in [(42, 0.50, 0.70, 0.72), (52, 0.52, 0.71, 0.74)]:
        make_run(tmp_path / "r", "baseline", "atsa", "rest14", seed, {"normal": b})
        make_run(tmp_path / "r", "tagger", "atsa", "rest14", seed, {"normal": t})
        make_run(tmp_path / "r", "tagger-distilled", "atsa", "rest14", seed, {"normal": td})
    result = write_report([tmp_path / "r"], tmp_path / "rep", baseline="baseline",
                          baselines={"tagger-distilled": "tagger"})
    by = {d["model"]: d for d in result["deltas"]}
    assert by["tagger-distilled"]["baseline"] == "tagger"
    assert by["tagger-distilled"]["delta_mean"] == pytest.approx(2.5)
    assert by["tagger"]["baseline"] == "baseline" and by["tagger"]["delta_mean"] == pytest.approx(19.5)


def test_the_delta_legend_names_each_models_baseline_once_under_all_panels(tmp_path, monkeypatch):
    """tagger-distilled − tagger beside tagger − baseline in one panel: each entry names its own
    baseline; the legend is one for the figure, so a model the first panel lacks (silver, ATSA
    only, beside an ACSA panel) is in it, once."""
    import matplotlib.figure

    from fsa_distill.evaluation.plots import plot_deltas
    legends = []
    real = matplotlib.figure.Figure.legend
    monkeypatch.setattr(matplotlib.figure.Figure, "legend",
                        lambda self, handles, labels, **kw: (legends.append(list(labels)),
                                                             real(self, handles, labels, **kw))[1])
    row = {"view": "normal", "delta_mean": 1.0, "ci95": [0.5, 1.5], "seeds": 3}
    drows = [{**row, "task": "acsa", "dataset": "rest16", "model": "tagger", "baseline": "baseline"},
             {**row, "task": "atsa", "dataset": "rest14", "model": "tagger", "baseline": "baseline"},
             {**row, "task": "atsa", "dataset": "rest14", "model": "tagger-distilled", "baseline": "tagger"},
             {**row, "task": "atsa", "dataset": "rest14", "model": "silver", "baseline": "baseline"}]
    assert plot_deltas(drows, tmp_path / "d.png")
    assert legends == [["tagger − baseline", "silver − baseline", "tagger-distilled − tagger"]]


def test_the_per_seed_table_says_which_runs_converged(tmp_path):
    for seed, converged, best in ((42, True, 5.0), (52, False, 8.0)):
        d = make_run(tmp_path, "tagger", "atsa", "rest14", seed, {"normal": 0.6})
        info = json.loads((d / "run_info.json").read_text())
        (d / "run_info.json").write_text(json.dumps({**info, "converged": converged, "best_epoch": best,
                                                     "epoch_cap": 8}))
    make_run(tmp_path, "plain", "atsa", "rest14", 42, {"normal": 0.5})  # no early stopping recorded
    result = write_report([tmp_path], tmp_path / "rep")
    md = result["markdown"]
    assert "| tagger | atsa/rest14 | 42 | yes | 5 / 8 | 60.00 |" in md
    assert "| tagger | atsa/rest14 | 52 | no | 8 / 8 | 60.00 |" in md
    assert "| plain | atsa/rest14 | 42 | – | – | 50.00 |" in md
    seeds = json.loads((tmp_path / "rep" / "report.json").read_text())["per_seed"]
    assert {r["seed"]: r["converged"] for r in seeds if r["model"] == "tagger"} == {42: True, 52: False}


def test_deltas_over_converged_pairs_leave_out_a_pair_with_a_run_stopped_by_its_cap(tmp_path):
    # seed 42: both converged, +5; seed 52: both converged, +3; seed 62: the variant hit its cap, -20
    for seed, b, v, v_converged in ((42, 0.50, 0.55, True), (52, 0.52, 0.55, True), (62, 0.54, 0.34, False)):
        for label, f1, converged in (("baseline", b, True), ("variant", v, v_converged)):
            d = make_run(tmp_path, label, "atsa", "rest14", seed, {"normal": f1})
            info = json.loads((d / "run_info.json").read_text())
            (d / "run_info.json").write_text(json.dumps({**info, "converged": converged, "best_epoch": 4,
                                                         "epoch_cap": 8}))
    result = write_report([tmp_path], tmp_path / "rep", baseline="baseline")
    (d,) = result["deltas"]
    assert d["seeds"] == 3 and d["delta_mean"] == pytest.approx(-4.0)
    assert d["converged_seeds"] == 2 and d["converged_delta_mean"] == pytest.approx(4.0)
    assert d["converged_ci95"][0] == pytest.approx(3.0) and d["converged_ci95"][1] == pytest.approx(5.0)
    assert "| variant | baseline | atsa/rest14 | normal | 3 | -4.00 |" in result["markdown"]
    assert "| 2 | +4.00 | [+3.00, +5.00] |" in result["markdown"]


def test_without_early_stopping_the_deltas_have_no_converged_columns(runs, tmp_path):
    result = write_report([runs], tmp_path / "rep", baseline="baseline")
    assert all("converged_seeds" not in d for d in result["deltas"])
    assert "converged pairs" not in result["markdown"]
