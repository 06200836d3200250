"""The numbers of a report: runs keyed by (model label, task, dataset, fraction, view), mean ±
std over seeds, per-seed rows, paired deltas with bootstrap CIs, t-tests and Holm's correction,
zero-shot and cost rows, written as Markdown and LaTeX (evaluation/report.py puts them together)."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from fsa_distill.benchmark.views import VIEWS
from fsa_distill.runs import SUMMARY_FILE, read_json

VIEW_ORDER = list(VIEWS)


def run_label(info: dict) -> str:
    return str(info.get("label") or info.get("model") or "model")


def collect(runs: list[dict]) -> dict:
    """{(label, task, dataset, train fraction, view): {seed: {precision, recall, f1}}} for FSA runs."""
    table: dict = defaultdict(dict)
    for run in runs:
        info = run["info"]
        if "task" not in info or info.get("kind") == "zeroshot":
            continue
        fraction = float(info.get("data_fraction") or 1.0)
        for view, m in run["metrics"].items():
            if isinstance(m, dict) and "f1" in m:
                key = (run_label(info), info["task"], Path(str(info["dataset"])).name, fraction, view)
                table[key][info.get("seed", 0)] = {k: m[k] for k in ("precision", "recall", "f1")}
    return table


def _order(view_key: str = "view"):
    views = {v: i for i, v in enumerate(VIEW_ORDER)}
    return lambda x: (x["task"], x["dataset"], -x["train_fraction"], views.get(x[view_key], 99), x["model"])


def summarize(table: dict) -> list[dict]:
    rows = []
    for (label, task, dataset, fraction, view), by_seed in table.items():
        f1 = np.array([v["f1"] for v in by_seed.values()]) * 100
        p = np.array([v["precision"] for v in by_seed.values()]) * 100
        r = np.array([v["recall"] for v in by_seed.values()]) * 100
        rows.append({"model": label, "task": task, "dataset": dataset, "train_fraction": fraction, "view": view,
                     "seeds": len(f1), "f1_mean": float(f1.mean()),
                     "f1_std": float(f1.std(ddof=1)) if len(f1) > 1 else None,  # no spread from one seed
                     "precision_mean": float(p.mean()), "recall_mean": float(r.mean())})
    rows.sort(key=_order())
    return rows


def convergence(runs: list[dict]) -> dict:
    """{(label, task, dataset, fraction, seed): {converged, best_epoch, epoch_cap}} from each fine-tuning's
    record (`converged` None where the run had no early stopping: nothing says when it would have stopped)."""
    out = {}
    for run in runs:
        info = run["info"]
        if info.get("kind") != "finetune" or "task" not in info:
            continue
        key = (run_label(info), info["task"], Path(str(info["dataset"])).name, float(info.get("data_fraction") or 1.0),
               info.get("seed", 0))
        out[key] = {"converged": info.get("converged"), "best_epoch": info.get("best_epoch"),
                    "epoch_cap": info.get("epoch_cap", info.get("epochs"))}
    return out


def per_seed_rows(table: dict, runs: list[dict] = ()) -> list[dict]:
    """One row per (model, task, dataset, fraction, seed) with the F1 of every view, and whether
    that fine-tuning converged (its best dev evaluation `patience` evaluations before the end)."""
    rows: dict = {}
    conv = convergence(list(runs))
    for (label, task, dataset, fraction, view), by_seed in table.items():
        for seed, m in by_seed.items():
            key = (label, task, dataset, fraction, seed)
            row = rows.setdefault(key, {"model": label, "task": task, "dataset": dataset, "train_fraction": fraction,
                                        "seed": seed, **conv.get(key, {})})
            row[f"f1_{view}"] = 100 * m["f1"]
    out = list(rows.values())
    out.sort(key=lambda x: (x["task"], x["dataset"], -x["train_fraction"], x["model"], x["seed"]))
    return out


def paired_delta(a: dict, b: dict, n_boot: int = 2000, seed: int = 0) -> dict | None:
    """Model b minus model a, on the seeds both ran (F1 x 100). With one shared seed there is no
    spread to estimate: the CI and p stay None (printed "–"), never a zero-width interval."""
    from scipy import stats

    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    d = np.array([b[s]["f1"] - a[s]["f1"] for s in seeds]) * 100
    out = {"seeds": len(seeds), "delta_mean": float(d.mean()), "p_value": None, "ci95": None}
    if len(seeds) > 1:
        out["p_value"] = float(stats.ttest_rel([b[s]["f1"] for s in seeds], [a[s]["f1"] for s in seeds]).pvalue) \
            if d.std() > 0 else (1.0 if d.mean() == 0 else 0.0)
        rng = np.random.default_rng(seed)
        boots = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
        out["ci95"] = [float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))]
    return out


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment (family-wise error), in the input order; None stays None and
    is not counted in the family. Sorted ascending, p_(i) is multiplied by (m - i), the running
    maximum is kept (adjusted values never decrease) and capped at 1."""
    idx = sorted((i for i, p in enumerate(p_values) if p is not None), key=lambda i: p_values[i])
    m, out, running = len(idx), list(p_values), 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


def add_holm(drows: list[dict]) -> list[dict]:
    """`p_holm` beside each raw p: the family is every comparison of one view (every model x task
    x dataset x fraction against its baseline), so the primary view (`normal`) is corrected for all
    the hypotheses and datasets tested on it at once."""
    for view in {d["view"] for d in drows}:
        family = [d for d in drows if d["view"] == view]
        for d, adj in zip(family, holm([d["p_value"] for d in family])):
            d["p_holm"] = adj
            d["holm_family"] = len([x for x in family if x["p_value"] is not None])
    return drows


def _converged_only(by_seed: dict, key: tuple, conv: dict) -> dict:
    """The seeds of one model/setting whose fine-tuning converged (early stopping said so)."""
    label, task, dataset, fraction, _view = key
    return {s: m for s, m in by_seed.items() if (conv.get((label, task, dataset, fraction, s)) or {}).get("converged")}


def deltas(table: dict, baseline: str | None, baselines: dict[str, str] | None = None,
           conv: dict | None = None) -> list[dict]:
    """Every model against the baseline; `baselines` ({model: its baseline}) pairs a model with
    another one instead (e.g. an extractive variant with the plain extractive student).

    `conv` (convergence()): where runs used early stopping, each row also gives the difference over
    only the seed pairs in which both runs converged (`converged_*`): a run stopped by its epoch cap
    measures how fast a model learns, not what it can learn, so a design that counts converged runs
    only reads those columns."""
    labels = sorted({k[0] for k in table})
    if len(labels) < 2:
        return []
    base = baseline if baseline in labels else labels[0]
    baselines = baselines or {}
    out = []
    for (label, task, dataset, fraction, view), by_seed in table.items():
        own = baselines.get(label, base)
        if label == own or (own, task, dataset, fraction, view) not in table:
            continue
        own_key = (own, task, dataset, fraction, view)
        d = paired_delta(table[own_key], by_seed)
        if d:
            row = {"model": label, "baseline": own, "task": task, "dataset": dataset,
                   "train_fraction": fraction, "view": view, **d}
            if conv and any(v.get("converged") is not None for v in conv.values()):
                c = paired_delta(_converged_only(table[own_key], own_key, conv),
                                 _converged_only(by_seed, (label, task, dataset, fraction, view), conv))
                row.update({"converged_seeds": c["seeds"] if c else 0,
                            "converged_delta_mean": c["delta_mean"] if c else None,
                            "converged_ci95": c["ci95"] if c else None})
            out.append(row)
    out.sort(key=_order())
    return add_holm(out)


def zeroshot_rows(runs: list[dict]) -> list[dict]:
    rows = []
    for run in runs:
        info = run["info"]
        if info.get("kind") != "zeroshot":
            continue
        for method, m in run["metrics"].items():
            if isinstance(m, dict) and "accuracy" in m:
                pct = lambda ci: [100 * ci[0], 100 * ci[1]] if ci else None  # noqa: E731
                majority = m.get("majority") or {}
                agree = (m.get("teacher_agreement") or {})
                margin = m.get("margin") or {}
                rows.append({"model": run_label(info), "dataset": info.get("dataset"), "method": method,
                             "accuracy": 100 * m["accuracy"], "macro_f1": 100 * m.get("macro_f1", float("nan")),
                             "n": m.get("n"), "accuracy_ci95": pct(m.get("accuracy_ci95")),
                             "macro_f1_ci95": pct(m.get("macro_f1_ci95")),
                             "majority_accuracy": 100 * majority["accuracy"] if majority.get("accuracy") is not None else None,
                             "majority_macro_f1": 100 * majority["macro_f1"] if majority.get("macro_f1") is not None else None,
                             "teacher_agreement": agree or None,
                             "margin_auc": margin.get("auc"), "margin_auc_ci95": margin.get("auc_ci95")})
    return rows


def _signed_ci(ci) -> str:
    return f"[{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "–"


def _ci(ci, nd=1) -> str:
    return f"[{ci[0]:.{nd}f}, {ci[1]:.{nd}f}]" if ci else "–"


def teacher_agreement_lines(zrows) -> list[str]:
    """Does the student match its teacher: on the held-out shipped reviews, the teacher's own
    overall sentiment (read from its analyses) and each student's answer, against the stars."""
    rows = [z for z in zrows if z.get("teacher_agreement")]
    if not rows:
        return []
    t = rows[0]["teacher_agreement"]["teacher_vs_stars"] or {}
    lines = ["", "## Does the student match its teacher (held-out shipped reviews, against their stars)", "",
             f"{rows[0]['teacher_agreement']['analysed']} of {rows[0]['teacher_agreement']['items']} held-out reviews "
             "have a teacher analysis; the teacher's answer is the sign of its graded sentiments.", "",
             "| system | method | n | accuracy | 95% CI | macro-F1 | matches the teacher |", "|---|---|---:|---:|---|---:|---:|"]
    if t:
        lines.append(f"| teacher (its analyses) | aggregate | {t['n']} | {100 * t['accuracy']:.1f} | "
                     f"{_ci([100 * x for x in t['accuracy_ci95']] if t.get('accuracy_ci95') else None)} | "
                     f"{100 * t['macro_f1']:.1f} | – |")
    if not t:
        lines.append("| (none of these items has a teacher analysis) | | | | | | |")
    for z in rows:
        a = z["teacher_agreement"]
        s = a.get("student_vs_stars_on_analysed") or {}
        match = a.get("student_matches_teacher") or {}
        agreement = f"{100 * match['agreement']:.1f} ({match['agree']}/{match['n']})" if match.get("agreement") is not None else "–"
        if s:
            lines.append(f"| {z['model']} | {z['method']} | {s['n']} | {100 * s['accuracy']:.1f} | "
                         f"{_ci([100 * x for x in s['accuracy_ci95']] if s.get('accuracy_ci95') else None)} | "
                         f"{100 * s['macro_f1']:.1f} | {agreement} |")
    return lines


def cost_rows(runs: list[dict], pretrain_dirs: dict) -> list[dict]:
    """Wall time per stage: each pretraining, and fine-tunings per (model, task, dataset, fraction)
    summed over seeds, from the runs' own records (so a table built across sittings adds up)."""
    rows = []
    for d, label in pretrain_dirs.items():
        f = Path(d) / SUMMARY_FILE
        if f.is_file():
            summary = read_json(f, SUMMARY_FILE)
            rows.append({"stage": "pretrain", "what": label, "runs": 1, "steps": summary.get("steps"),
                         "minutes": (summary.get("wall_time_s") or 0) / 60, "device": None})
    groups: dict = defaultdict(list)
    for r in runs:
        info = r["info"]
        if info.get("kind") == "finetune" and info.get("timing"):
            frac = float(info.get("data_fraction") or 1.0)
            key = (run_label(info), setting_label({"task": info["task"], "dataset": Path(str(info["dataset"])).name,
                                         "train_fraction": frac}))
            groups[key].append(info)
    for (label, where), infos in sorted(groups.items()):
        rows.append({"stage": "finetune", "what": f"{label} {where}", "runs": len(infos),
                     "steps": sum(i.get("steps") or 0 for i in infos),
                     "minutes": sum(i["timing"].get("total_s", 0) for i in infos) / 60,
                     "device": (infos[0].get("environment") or {}).get("device")})
    return rows


def _fmt(x, nd=2):
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def setting_label(r: dict) -> str:
    """task/dataset, with the share of training data when it is not all of it."""
    frac = r.get("train_fraction", 1.0)
    return f"{r['task']}/{r['dataset']}" + (f" @{100 * frac:g}% train" if frac < 1 else "")


def _converged(flag) -> str:
    return {True: "yes", False: "no"}.get(flag, "–")


def _epochs(r: dict) -> str:
    best, cap = r.get("best_epoch"), r.get("epoch_cap")
    return "–" if best is None else f"{best:g} / {cap:g}" if cap is not None else f"{best:g}"


def _seeds(n: int) -> str:
    return f"{n}" if n > 1 else "1 seed"


def markdown(rows, drows, zrows, seed_rows=(), costs=()) -> str:
    lines = ["## F1 by model, dataset and view (mean ± std over seeds; `normal` = the reference's number)", "",
             "| model | task/dataset | view | seeds | F1 | P | R |", "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {setting_label(r)} | {r['view']} | {_seeds(r['seeds'])} | "
                     f"{_fmt(r['f1_mean'])} ± {_fmt(r['f1_std'])} | {_fmt(r['precision_mean'])} | {_fmt(r['recall_mean'])} |")
    if drows:
        lines += ["", "## Paired differences (F1, model − its baseline, over shared seeds)", "",
                  "95% CI: bootstrap over the paired seeds; p: paired t-test; p (Holm): adjusted for every "
                  "comparison of the same view (family-wise). None exists for one seed (–)."]
        with_conv = any("converged_seeds" in d for d in drows)
        if with_conv:
            lines[-1] += (" Converged pairs: the same difference over only the seeds where both runs "
                          "converged (their count, ΔF1 and CI).")
        lines += ["", "| model | baseline | task/dataset | view | seeds | ΔF1 | 95% CI (bootstrap) | p (paired t) | p (Holm) |"
                  + (" converged pairs | ΔF1 (converged) | 95% CI (converged) |" if with_conv else ""),
                  "|---|---|---|---|---:|---:|---|---:|---:|" + ("---:|---:|---|" if with_conv else "")]
        for d in drows:
            line = (f"| {d['model']} | {d['baseline']} | {setting_label(d)} | {d['view']} | {_seeds(d['seeds'])} | "
                    f"{d['delta_mean']:+.2f} | {_signed_ci(d.get('ci95'))} | {_fmt(d['p_value'], 3)} | {_fmt(d.get('p_holm'), 3)} |")
            if with_conv:
                cd = d.get("converged_delta_mean")
                line += (f" {d.get('converged_seeds', 0)} | {'–' if cd is None else f'{cd:+.2f}'} | "
                         f"{_signed_ci(d.get('converged_ci95'))} |")
            lines.append(line)
    if seed_rows:
        views = [v for v in VIEW_ORDER if any(f"f1_{v}" in r for r in seed_rows)]
        lines += ["", "## F1 per seed", "",
                  "converged: the run stopped early with its best dev F1 `patience` evaluations before the end "
                  "(no: it was still improving at the epoch cap; –: no early stopping). Comparisons between "
                  "runs that did not converge measure speed of learning, not what a model can learn.", "",
                  "| model | task/dataset | seed | converged | best epoch / cap | " + " | ".join(views) + " |",
                  "|---|---|---:|---|---:|" + "---:|" * len(views)]
        for r in seed_rows:
            lines.append(f"| {r['model']} | {setting_label(r)} | {r['seed']} | {_converged(r.get('converged'))} | "
                         f"{_epochs(r)} | " + " | ".join(_fmt(r.get(f"f1_{v}")) for v in views) + " |")
    if costs:
        lines += ["", "## Cost (wall time of each stage, summed over its runs)", "",
                  "| stage | what | runs | optimizer steps | minutes | device |", "|---|---|---:|---:|---:|---|"]
        for c in costs:
            lines.append(f"| {c['stage']} | {c['what']} | {c['runs']} | {c['steps']} | {c['minutes']:.1f} | {c['device'] or '–'} |")
    if zrows:
        lines += ["", "## Zero-shot sentiment classification", "",
                  "95% CI: bootstrap over items; majority: always the most frequent label of the same items."]
        # Runs recorded before the label-word margin's AUC existed leave the column out.
        auc = any(z.get("margin_auc") is not None for z in zrows)
        if auc:
            lines.append("AUC: ROC AUC of the label-word margin (positive − negative): does the student rank "
                         "the items at all, whatever its threshold (0.5: no signal).")
        lines += ["", "| model | dataset | method | n | accuracy | 95% CI | macro-F1 | 95% CI | majority acc. | "
                  "majority macro-F1 |" + (" AUC | 95% CI |" if auc else ""),
                  "|---|---|---|---:|---:|---|---:|---|---:|---:|" + ("---:|---|" if auc else "")]
        for z in zrows:
            lines.append(f"| {z['model']} | {z['dataset']} | {z['method']} | {z['n']} | {_fmt(z['accuracy'])} | "
                         f"{_ci(z.get('accuracy_ci95'))} | {_fmt(z['macro_f1'])} | {_ci(z.get('macro_f1_ci95'))} | "
                         f"{_fmt(z.get('majority_accuracy'))} | {_fmt(z.get('majority_macro_f1'))} |"
                         + (f" {_fmt(z.get('margin_auc'), 3)} | {_ci(z.get('margin_auc_ci95'), 3)} |" if auc else ""))
        lines += teacher_agreement_lines(zrows)
    return "\n".join(lines) + "\n"


def latex(rows) -> str:
    out = ["\\begin{tabular}{lllrr}", "\\toprule", "Model & Dataset & View & Seeds & F1 \\\\", "\\midrule"]
    for r in rows:
        esc = lambda s: str(s).replace("_", "\\_").replace("&", "\\&")  # noqa: E731
        std = f" $\\pm$ {r['f1_std']:.2f}" if r["f1_std"] is not None else ""
        out.append(f"{esc(r['model'])} & {esc(setting_label(r))} & {r['view']} & {r['seeds']} & "
                   f"{r['f1_mean']:.2f}{std} \\\\")
    out += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(out) + "\n"
