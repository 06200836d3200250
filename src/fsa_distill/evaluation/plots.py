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
    return setting_label({"task": task, "dataset": ds, "train_fraction": frac})


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


def _save(fig, plt, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _panel_rows(rows, group, n_models: int) -> tuple[list[dict], list[str], float]:
    """The rows of one (task, dataset, fraction) panel, its views in order, and the bar width."""
    sel = [r for r in rows if (r["task"], r["dataset"], r.get("train_fraction", 1.0)) == group]
    return sel, [v for v in VIEW_ORDER if any(r["view"] == v for r in sel)], 0.8 / max(1, n_models)


def _series(sel_rows, models: list[str], views: list[str], width: float):
    """Per model: (model, the views it has, their x positions, {view: row}): one bar group per view."""
    for i, m in enumerate(models):
        sel = {r["view"]: r for r in sel_rows if r["model"] == m}
        have = [v for v in views if v in sel]
        yield m, have, [j + i * width for j, v in enumerate(views) if v in sel], sel


def plot_f1_by_view(rows, path: Path) -> None:
    plt = _pyplot()
    groups = _groups(rows)
    models = sorted({r["model"] for r in rows})
    fig, axes = _panels(plt, len(groups))
    for ax, group in zip(axes, groups):
        sel_rows, views, width = _panel_rows(rows, group, len(models))
        for m, have, xs, sel in _series(sel_rows, models, views, width):
            ax.bar(xs, [sel[v]["f1_mean"] for v in have], width, yerr=[sel[v]["f1_std"] or 0.0 for v in have],
                   capsize=3, label=m)
        ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(views))], views)
        seeds = sorted({r["seeds"] for r in sel_rows})
        ax.set_title(f"{_panel_title(group)} ({'/'.join(map(str, seeds))} seed{'s' if seeds != [1] else ''})")
        ax.set_ylabel("F1 (mean ± std over seeds)")
        ax.set_ylim(0, 100)
    axes[0].legend(fontsize=8)
    _save(fig, plt, path)


def plot_deltas(drows, path: Path) -> bool:
    """ΔF1 against the baseline per view, with the bootstrap 95% CI (a dot alone: one seed)."""
    if not drows:
        return False
    plt = _pyplot()
    groups = _groups(drows)
    models = sorted({d["model"] for d in drows})
    fig, axes = _panels(plt, len(groups))
    for ax, group in zip(axes, groups):
        sel_rows, views, width = _panel_rows(drows, group, len(models))
        # A panel can hold models with different baselines (tagger-distilled − tagger beside
        # distilled − baseline): then each legend entry names its own.
        bases = {d["baseline"] for d in sel_rows}
        for m, have, xs, sel in _series(sel_rows, models, views, width):
            ys, ci = [sel[v]["delta_mean"] for v in have], [sel[v]["ci95"] for v in have]
            err = [[y - c[0] if c else 0 for y, c in zip(ys, ci)], [c[1] - y if c else 0 for y, c in zip(ys, ci)]]
            label = m if len(bases) == 1 or not have else f"{m} − {sel[have[0]]['baseline']}"
            ax.errorbar(xs, ys, yerr=err, fmt="o", capsize=3, label=label)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(views))], views)
        ax.set_title(f"{_panel_title(group)}: " + (f"− {min(bases)}" if len(bases) == 1 else "each − its baseline"))
        ax.set_ylabel("ΔF1 (paired mean, 95% CI)")
    axes[0].legend(fontsize=8)
    _save(fig, plt, path)
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
