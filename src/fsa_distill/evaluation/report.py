"""`fsa-distill report RUN_DIR [RUN_DIR ...]`: tables and plots over fine-tuning runs and seeds.

Runs are found by their files (`run_info.json` + `metrics.json`), and every number is keyed by
(model label, task, dataset, view) - never by position, which is the reference notebook's bug
(reference-system.md §6). Per key: mean ± std of F1 (and P, R) over seeds and the number of seeds.
Between two models: the mean paired difference over the seeds both have, a paired t-test and a
bootstrap CI over seeds. Written as Markdown, CSV, LaTeX and JSON, with PNG plots.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from fsa_distill.errors import FsaError

VIEW_ORDER = ["normal", "test", "hard", "implicit", "multi"]


def find_runs(roots) -> list[dict]:
    runs = []
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise FsaError(f"{root}: no such run folder")
        for info_path in sorted(root.rglob("run_info.json")):
            metrics_path = info_path.parent / "metrics.json"
            if not metrics_path.exists():
                continue  # unfinished
            try:
                info = json.loads(info_path.read_text(encoding="utf-8"))
                metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise FsaError(f"{info_path.parent}: unreadable run files ({e.msg})") from None
            runs.append({"dir": str(info_path.parent), "info": info, "metrics": metrics})
    return runs


def _label(info: dict) -> str:
    return str(info.get("label") or info.get("model") or "model")


def collect(runs: list[dict]) -> dict:
    """{(label, task, dataset, view): {seed: {precision, recall, f1}}} for FSA runs."""
    table: dict = defaultdict(dict)
    for run in runs:
        info = run["info"]
        if "task" not in info or info.get("kind") == "zeroshot":
            continue
        for view, m in run["metrics"].items():
            if isinstance(m, dict) and "f1" in m:
                key = (_label(info), info["task"], Path(str(info["dataset"])).name, view)
                table[key][info.get("seed", 0)] = {k: m[k] for k in ("precision", "recall", "f1")}
    return table


def summarize(table: dict) -> list[dict]:
    rows = []
    for (label, task, dataset, view), by_seed in table.items():
        f1 = np.array([v["f1"] for v in by_seed.values()]) * 100
        p = np.array([v["precision"] for v in by_seed.values()]) * 100
        r = np.array([v["recall"] for v in by_seed.values()]) * 100
        rows.append({"model": label, "task": task, "dataset": dataset, "view": view, "seeds": len(f1),
                     "f1_mean": float(f1.mean()), "f1_std": float(f1.std(ddof=1)) if len(f1) > 1 else 0.0,
                     "precision_mean": float(p.mean()), "recall_mean": float(r.mean())})
    order = {v: i for i, v in enumerate(VIEW_ORDER)}
    rows.sort(key=lambda x: (x["task"], x["dataset"], order.get(x["view"], 99), x["model"]))
    return rows


def paired_delta(a: dict, b: dict, n_boot: int = 2000, seed: int = 0) -> dict | None:
    """Model b minus model a, on the seeds both ran (F1 x 100)."""
    from scipy import stats

    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    d = np.array([b[s]["f1"] - a[s]["f1"] for s in seeds]) * 100
    out = {"seeds": len(seeds), "delta_mean": float(d.mean()), "p_value": None, "ci95": [float(d.mean())] * 2}
    if len(seeds) > 1:
        out["p_value"] = float(stats.ttest_rel([b[s]["f1"] for s in seeds], [a[s]["f1"] for s in seeds]).pvalue) \
            if d.std() > 0 else (1.0 if d.mean() == 0 else 0.0)
        rng = np.random.default_rng(seed)
        boots = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
        out["ci95"] = [float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))]
    return out


def deltas(table: dict, baseline: str | None) -> list[dict]:
    labels = sorted({k[0] for k in table})
    if len(labels) < 2:
        return []
    base = baseline if baseline in labels else labels[0]
    out = []
    for (label, task, dataset, view), by_seed in table.items():
        if label == base or (base, task, dataset, view) not in table:
            continue
        d = paired_delta(table[(base, task, dataset, view)], by_seed)
        if d:
            out.append({"model": label, "baseline": base, "task": task, "dataset": dataset, "view": view, **d})
    order = {v: i for i, v in enumerate(VIEW_ORDER)}
    out.sort(key=lambda x: (x["task"], x["dataset"], order.get(x["view"], 99), x["model"]))
    return out


def zeroshot_rows(runs: list[dict]) -> list[dict]:
    rows = []
    for run in runs:
        info = run["info"]
        if info.get("kind") != "zeroshot":
            continue
        for method, m in run["metrics"].items():
            if isinstance(m, dict) and "accuracy" in m:
                rows.append({"model": _label(info), "dataset": info.get("dataset"), "method": method,
                             "accuracy": 100 * m["accuracy"], "macro_f1": 100 * m.get("macro_f1", float("nan")),
                             "n": m.get("n")})
    return rows


def _fmt(x, nd=2):
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def markdown(rows, drows, zrows) -> str:
    lines = ["## F1 by model, dataset and view (mean ± std over seeds; `normal` = the reference's number)", "",
             "| model | task/dataset | view | seeds | F1 | P | R |", "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['task']}/{r['dataset']} | {r['view']} | {r['seeds']} | "
                     f"{_fmt(r['f1_mean'])} ± {_fmt(r['f1_std'])} | {_fmt(r['precision_mean'])} | {_fmt(r['recall_mean'])} |")
    if drows:
        lines += ["", f"## Paired differences (F1, model − {drows[0]['baseline']}, over shared seeds)", "",
                  "| model | task/dataset | view | seeds | ΔF1 | 95% CI (bootstrap) | p (paired t) |",
                  "|---|---|---|---:|---:|---|---:|"]
        for d in drows:
            lines.append(f"| {d['model']} | {d['task']}/{d['dataset']} | {d['view']} | {d['seeds']} | "
                         f"{d['delta_mean']:+.2f} | [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}] | {_fmt(d['p_value'], 3)} |")
    if zrows:
        lines += ["", "## Zero-shot sentiment classification", "", "| model | dataset | method | n | accuracy | macro-F1 |",
                  "|---|---|---|---:|---:|---:|"]
        for z in zrows:
            lines.append(f"| {z['model']} | {z['dataset']} | {z['method']} | {z['n']} | {_fmt(z['accuracy'])} | {_fmt(z['macro_f1'])} |")
    return "\n".join(lines) + "\n"


def latex(rows) -> str:
    out = ["\\begin{tabular}{lllrr}", "\\toprule", "Model & Dataset & View & Seeds & F1 \\\\", "\\midrule"]
    for r in rows:
        esc = lambda s: str(s).replace("_", "\\_").replace("&", "\\&")  # noqa: E731
        out.append(f"{esc(r['model'])} & {r['task']}/{esc(r['dataset'])} & {r['view']} & {r['seeds']} & "
                   f"{r['f1_mean']:.2f} $\\pm$ {r['f1_std']:.2f} \\\\")
    out += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(out) + "\n"


def plot_f1_by_view(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({(r["task"], r["dataset"]) for r in rows})
    models = sorted({r["model"] for r in rows})
    fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 4), squeeze=False)
    for ax, (task, ds) in zip(axes[0], groups):
        views = [v for v in VIEW_ORDER if any(r["view"] == v and r["dataset"] == ds for r in rows)]
        width = 0.8 / max(1, len(models))
        for i, m in enumerate(models):
            sel = {r["view"]: r for r in rows if r["model"] == m and r["dataset"] == ds and r["task"] == task}
            xs = [j + i * width for j, v in enumerate(views) if v in sel]
            ax.bar(xs, [sel[v]["f1_mean"] for v in views if v in sel], width,
                   yerr=[sel[v]["f1_std"] for v in views if v in sel], capsize=3, label=m)
        ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(views))], views)
        ax.set_title(f"{task}/{ds}")
        ax.set_ylabel("F1 (mean ± std over seeds)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def curve_name(run: dict, folder: Path) -> str:
    """A legend label people can read: "distilled atsa/rest14 seed 42", else the folder's name."""
    info = run.get("info") or {}
    if folder == Path(run["dir"]) and info.get("task"):
        return f"{info.get('label', info.get('model', '?'))} {info['task']}/{info.get('dataset', '?')} seed {info.get('seed', '?')}"
    return folder.name


def plot_curves(runs, path: Path, file: str, x: str, ys: list[str], title: str, ylabel: str) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Only the runs' own folders: their siblings may be stale runs of an older config.
    found = {}
    for r in runs:
        for f in sorted(Path(r["dir"]).rglob(file)):
            curve = json.loads(f.read_text(encoding="utf-8"))
            if curve and str(f) not in found:
                found[str(f)] = (curve_name(r, f.parent), curve)
    if not found:
        return False
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, curve in sorted(found.values(), key=lambda nc: nc[0]):
        for y in ys:
            pts = [(p[x], p[y]) for p in curve if p.get(y) is not None]
            if pts:
                ax.plot(*zip(*pts), marker=".", label=f"{name} {y}" if len(ys) > 1 else name)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(found) * len(ys) <= 12:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_report(roots, out_dir: str | Path, baseline: str | None = None, extra_dirs=()) -> dict:
    runs = find_runs(roots)
    if not runs:
        raise FsaError(f"no finished runs (run_info.json + metrics.json) under {', '.join(map(str, roots))}")
    table = collect(runs)
    rows, drows, zrows = summarize(table), deltas(table, baseline), zeroshot_rows(runs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = markdown(rows, drows, zrows)
    (out / "report.md").write_text(md, encoding="utf-8")
    (out / "report.tex").write_text(latex(rows), encoding="utf-8")
    (out / "report.json").write_text(json.dumps({"rows": rows, "deltas": drows, "zeroshot": zrows,
                                                 "runs": [r["dir"] for r in runs]}, indent=2), encoding="utf-8")
    with open(out / "report.csv", "w", newline="", encoding="utf-8") as f:
        if rows:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    plots = []
    if rows:
        plot_f1_by_view(rows, out / "f1_by_view.png")
        plots.append("f1_by_view.png")
    fsa_runs = [r for r in runs if r["info"].get("kind") != "zeroshot"]
    if plot_curves(fsa_runs, out / "dev_curves.png", "dev_curve.json", "epoch", ["dev_f1"], "dev F1 per epoch", "dev F1"):
        plots.append("dev_curves.png")
    pre = [{"dir": str(d)} for d in extra_dirs]
    if plot_curves(pre, out / "pretrain_loss.png", "loss_curve.json", "step", ["train_loss", "val_loss"],
                   "distillation pretraining", "loss"):
        plots.append("pretrain_loss.png")
    return {"markdown": md, "out": str(out), "plots": plots, "rows": rows, "deltas": drows}


def register(sub) -> None:
    p = sub.add_parser("report", help="tables (Markdown, CSV, LaTeX) and plots over runs and seeds")
    p.add_argument("runs", nargs="+", help="run folders (searched recursively)")
    p.add_argument("--output", help="where to write (default: <first run folder>/report)")
    p.add_argument("--baseline", help="model label the others are compared with")
    p.add_argument("--pretrain", nargs="*", default=[], help="pretraining folders whose loss curves to plot")
    p.set_defaults(func=run_report)


def run_report(args) -> int:
    out = args.output or str(Path(args.runs[0]) / "report")
    result = write_report(args.runs, out, args.baseline, extra_dirs=args.pretrain)
    print(result["markdown"])
    print(f"written to {out}: report.md, report.csv, report.tex, report.json, {', '.join(result['plots'])}")
    return 0
