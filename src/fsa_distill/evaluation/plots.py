"""The report's PNG plots (matplotlib, Agg): F1 by view, paired deltas by view, dev curves per
seed with their mean, pretraining loss."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from fsa_distill.evaluation.tables import VIEW_ORDER, run_label, setting_label
from fsa_distill.runs import read_json

def _groups(rows) -> list[tuple]:
    """(task, dataset, fraction) panels, full data first."""
    return sorted({(r["task"], r["dataset"], r.get("train_fraction", 1.0)) for r in rows},
                  key=lambda g: (g[0], g[1], -g[2]))


def _panel_title(group) -> str:
    task, ds, frac = group
    # Said outright: a report can hold the same dataset at 10% and at all of train.
    return setting_label({"task": task, "dataset": ds, "train_fraction": frac}) + (", all of train" if frac >= 1 else "")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _panels(plt, n: int, width: float = 5.5, height: float = 4):
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _save(fig, plt, path: Path, legend_axes=None) -> None:
    """Saves the figure; with `legend_axes`, under the panels one legend for all of them, each
    label once (a legend on the first panel alone misses the models it does not hold, and covers
    its points)."""
    bottom = 0.0
    if legend_axes:
        entries: dict = {}
        for ax in legend_axes:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                entries.setdefault(label, handle)
        if entries:
            ncol = min(len(entries), 4)
            rows = -(-len(entries) // ncol)
            bottom = (0.3 * rows + 0.2) / fig.get_figheight()
            fig.legend(list(entries.values()), list(entries), loc="lower center", ncol=ncol, fontsize=8,
                       frameon=False)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _colors(plt, models: list[str]) -> dict:
    """One colour per model, the same in every panel."""
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: cycle[i % len(cycle)] for i, m in enumerate(models)}


def _panel_rows(rows, group, n_models: int) -> tuple[list[dict], list[str], float]:
    """The rows of one (task, dataset, fraction) panel, its views in order, and the bar width."""
    sel = [r for r in rows if (r["task"], r["dataset"], r.get("train_fraction", 1.0)) == group]
    return sel, [v for v in VIEW_ORDER if any(r["view"] == v for r in sel)], 0.8 / max(1, n_models)


def _series(sel_rows, models: list[str], views: list[str], width: float):
    """Per model the panel holds: (model, the views it has, their x positions, {view: row}): one
    bar group per view, each model at its own offset in every panel."""
    for i, m in enumerate(models):
        sel = {r["view"]: r for r in sel_rows if r["model"] == m}
        have = [v for v in views if v in sel]
        if have:
            yield m, have, [j + i * width for j, v in enumerate(views) if v in sel], sel


def plot_f1_by_view(rows, path: Path) -> None:
    plt = _pyplot()
    groups = _groups(rows)
    models = sorted({r["model"] for r in rows})
    colors = _colors(plt, models)
    fig, axes = _panels(plt, len(groups))
    for ax, group in zip(axes, groups):
        sel_rows, views, width = _panel_rows(rows, group, len(models))
        for m, have, xs, sel in _series(sel_rows, models, views, width):
            ax.bar(xs, [sel[v]["f1_mean"] for v in have], width,
                   yerr=[sel[v]["f1_std"] or 0.0 for v in have], capsize=3, label=m, color=colors[m])
        ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(views))], views)
        seeds = sorted({r["seeds"] for r in sel_rows})
        ax.set_title(f"{_panel_title(group)} ({'/'.join(map(str, seeds))} seed{'s' if seeds != [1] else ''})")
        ax.set_ylabel("F1 (mean ± std over seeds)")
        ax.set_ylim(0, 100)
    _save(fig, plt, path, legend_axes=axes)


def plot_deltas(drows, path: Path) -> bool:
    """ΔF1 against the baseline per view, with the bootstrap 95% CI (a dot alone: one seed)."""
    if not drows:
        return False
    plt = _pyplot()
    groups = _groups(drows)
    models = sorted({d["model"] for d in drows})
    colors = _colors(plt, models)
    fig, axes = _panels(plt, len(groups))
    for ax, group in zip(axes, groups):
        sel_rows, views, width = _panel_rows(drows, group, len(models))
        for m, have, xs, sel in _series(sel_rows, models, views, width):
            ys, ci = [sel[v]["delta_mean"] for v in have], [sel[v]["ci95"] for v in have]
            err = [[y - c[0] if c else 0 for y, c in zip(ys, ci)], [c[1] - y if c else 0 for y, c in zip(ys, ci)]]
            # Each entry names its own baseline: a panel can hold tagger-distilled − tagger beside
            # distilled − baseline.
            ax.errorbar(xs, ys, yerr=err, fmt="o", capsize=3, color=colors[m],
                        label=f"{m} − {sel[have[0]]['baseline']}")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(views))], views)
        n = sorted({d["seeds"] for d in sel_rows if d.get("seeds")})
        pairs = f" ({'/'.join(map(str, n))} seed pair{'s' if n != [1] else ''})" if n else ""
        ax.set_title(f"{_panel_title(group)}{pairs}")
        ax.set_ylabel("ΔF1 vs its baseline (paired mean, 95% CI)")
    _save(fig, plt, path, legend_axes=axes)
    return True


def dev_curve_series(runs) -> dict:
    """{((task, dataset, fraction), model): [[(epoch, dev F1 x 100), ...] per seed]}."""
    curves: dict = defaultdict(list)
    for r in runs:
        f = Path(r["dir"]) / "dev_curve.json"
        info = r["info"]
        if not f.is_file() or "task" not in info:
            continue
        curve = read_json(f, f.name)
        group = (info["task"], Path(str(info["dataset"])).name, float(info.get("data_fraction") or 1.0))
        points = [(p["epoch"], 100 * p["dev_f1"]) for p in curve if p.get("dev_f1") is not None]
        if points:
            curves[group, run_label(info)].append(points)
    return dict(curves)


def plot_dev_curves(runs, path: Path) -> bool:
    """Dev F1 (0-100, as the test tables) per whole epoch: one panel per (task, dataset, fraction),
    a thin line per seed and the mean over seeds in bold, per model."""
    curves = dev_curve_series(runs)
    if not curves:
        return False
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    groups = sorted({g for g, _ in curves}, key=lambda g: (g[0], g[1], -g[2]))
    fig, axes = _panels(plt, len(groups), height=3.6)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    models = sorted({m for _, m in curves})
    for ax, group in zip(axes, groups):
        for i, m in enumerate(models):
            seeds = curves.get((group, m), [])
            color = colors[i % len(colors)]
            for c in seeds:
                ax.plot(*zip(*c), color=color, lw=0.7, alpha=0.3)
            epochs = sorted({e for c in seeds for e, _ in c})
            if epochs:
                mean = [np.mean([y for c in seeds for e2, y in c if e2 == e]) for e in epochs]
                n = len(seeds)
                ax.plot(epochs, mean, color=color, lw=2, marker=".", label=f"{m} ({n} seed{'s' if n > 1 else ''})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, 100)
        ax.set_xlabel("epoch")
        ax.set_ylabel("dev F1")
        ax.set_title(_panel_title(group))
        ax.legend(fontsize=7)
    _save(fig, plt, path)
    return True


def plot_pretrain_loss(dirs: dict, path: Path) -> bool:
    """Train and held-out loss by optimizer step, one colour per pretraining."""
    found = {}
    for d, label in dirs.items():
        f = Path(d) / "loss_curve.json"
        if f.is_file():
            curve = read_json(f, f.name)
            if curve:
                found[label] = curve
    if not found:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, curve) in enumerate(sorted(found.items())):
        color = colors[i % len(colors)]
        for y, style in (("train_loss", "-"), ("val_loss", "--")):
            pts = [(p["step"], p[y]) for p in curve if p.get(y) is not None]
            if pts:
                ax.plot(*zip(*pts), style, color=color, marker="." if y == "val_loss" else None,
                        label=f"{label} {'held-out' if y == 'val_loss' else 'train'}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (teacher-forced cross-entropy)")
    ax.set_title("distillation pretraining")
    ax.legend(fontsize=7)
    _save(fig, plt, path)
    return True
