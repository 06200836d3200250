"""`report` on hand-made run folders: known means, stds, deltas; valid PNGs; keyed, not positional."""

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from fsa_distill.evaluation.report import write_report
from fsa_distill.errors import FsaError


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


def test_curves_are_labelled_by_model_dataset_and_seed(tmp_path):
    from fsa_distill.evaluation.report import curve_name

    run = {"dir": str(tmp_path / "atsa-rest14-seed42-0ffff983fa"),
           "info": {"label": "distilled", "task": "atsa", "dataset": "rest14", "seed": 42}}
    assert curve_name(run, Path(run["dir"])) == "distilled atsa/rest14 seed 42"
    assert curve_name({"dir": str(tmp_path)}, tmp_path / "pretrain-1a2b") == "pretrain-1a2b"
