"""`fsa-distill report RUN_DIR [RUN_DIR ...]`: tables and plots over fine-tuning runs and seeds.

Runs are found by their files (`run_info.json` + `metrics.json`, runs.py), and every number is keyed by
(model label, task, dataset, view) - never by position, which is the reference notebook's bug
(docs/reference.md). Per key: mean ± std of F1 (and P, R) over seeds and the number of seeds.
Between two models: the mean paired difference over the seeds both have, a paired t-test and a
bootstrap CI over seeds. Written as Markdown, CSV, LaTeX and JSON, with PNG plots. The numbers
and their tables are in tables.py, the plots in plots.py.
"""

from __future__ import annotations

import csv
from pathlib import Path

from fsa_distill.errors import FsaError
from fsa_distill.evaluation.plots import plot_deltas, plot_dev_curves, plot_f1_by_view, plot_pretrain_loss
from fsa_distill.evaluation.tables import (
    collect,
    convergence,
    cost_rows,
    deltas,
    latex,
    markdown,
    per_seed_rows,
    summarize,
    zeroshot_rows,
)
from fsa_distill.runs import find_runs, write_json


def write_report(roots, out_dir: str | Path, baseline: str | None = None, extra_dirs=(),
                 baselines: dict[str, str] | None = None) -> dict:
    """`extra_dirs`: pretraining folders whose loss curves to plot, a list or {folder: label};
    `baselines`: {model: the model it is compared with} where that is not `baseline`."""
    runs = find_runs(roots)
    if not runs:
        raise FsaError(f"no finished runs (run_info.json + metrics.json) under {', '.join(map(str, roots))}")
    table = collect(runs)
    conv = convergence(runs)
    rows, drows = summarize(table), deltas(table, baseline, baselines, conv)
    zrows, seed_rows = zeroshot_rows(runs), per_seed_rows(table, runs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pre = extra_dirs if isinstance(extra_dirs, dict) else {str(d): Path(d).name for d in extra_dirs}
    costs = cost_rows(runs, pre)
    md = markdown(rows, drows, zrows, seed_rows, costs)
    (out / "report.md").write_text(md, encoding="utf-8")
    (out / "report.tex").write_text(latex(rows), encoding="utf-8")
    write_json(out / "report.json", {"rows": rows, "deltas": drows, "per_seed": seed_rows, "costs": costs,
                                     "zeroshot": zrows, "runs": [r["dir"] for r in runs]})
    for name, table_rows in (("report.csv", rows), ("report_deltas.csv", drows), ("report_seeds.csv", seed_rows)):
        with open(out / name, "w", newline="", encoding="utf-8") as f:
            fields = list(dict.fromkeys(k for r in table_rows for k in r))
            if fields:
                w = csv.DictWriter(f, fieldnames=fields)
                w.writeheader()
                w.writerows(table_rows)
    plots = []
    if rows:
        plot_f1_by_view(rows, out / "f1_by_view.png")
        plots.append("f1_by_view.png")
    if plot_deltas(drows, out / "delta_by_view.png"):
        plots.append("delta_by_view.png")
    if plot_dev_curves([r for r in runs if r["info"].get("kind") != "zeroshot"], out / "dev_curves.png"):
        plots.append("dev_curves.png")
    if plot_pretrain_loss(pre, out / "pretrain_loss.png"):
        plots.append("pretrain_loss.png")
    return {"markdown": md, "out": str(out), "plots": plots, "rows": rows, "deltas": drows}
