"""Replays early stopping over every committed dev curve, under the rule the runs were made with
(evaluations at dev F1 0 do not count against patience only before the first F1 above 0) and
under today's (an evaluation at F1 0 never counts; student/selection.py), and lists the runs whose
stopping point differs. Then the same against a candidate: today's rule with patience counted only
after a third of the epoch cap (`train.patience_from_epoch`), listing the recorded stops it would
not have made. It reads only the records (dev_curve.csv, run_info.json).

    python docs/results/evidence-v2-cpu/replay_patience.py [docs/results]

Measured on 2026-12-05 over docs/results as of 743d859: 81 runs with patience, the old rule
reproduces every recorded stop, and the new one differs on 4: the three acsa rest16 tagger-cap60
runs and tagger-distilled-cap60 seed 42 (a chance first score, then a silent head), which were
withdrawn and re-run under today's rule. Over today's records today's rule reproduces every stop
and the old one would have stopped those 4 re-runs at their 4th or 8th evaluation. (Today's rule
is replayed with each run's own `patience_from_epoch`, 0 where it has none.)
Measured on 2026-12-06 (before the sensitivity re-runs and full-rest14 multitask seed 52 were
committed; 84 runs with patience and 66 early stops after): with patience counted after a third of
the cap, 3 of the 63 early stops would not have happened: distilled and prefixed atsa rest14 seed 52 (best at epoch 6, stopped at
12) and tagger-distilled acsa rest16 seed 52 at the 30-epoch cap (best 8, stopped 14).
Measured on 2026-12-07 over every record as of df57a9f (87 runs with patience, 69 early stops):
today's rule reproduces every recorded stop; the sturdier one undoes those 3 and the full-rest14
baseline seed 62 (best 8, stopped 14), whose re-run (baseline-pf10) kept the same model.
"""

import csv
import json
import sys
from pathlib import Path

from fsa_distill.student.selection import counts_against_patience


def stop_index(f1s: list[float], patience: int, new_rule: bool, epochs: list[float] | None = None,
               from_epoch: float = 0) -> int | None:
    """The evaluation at which training stops (None: it runs to the cap). The new rule is
    student/selection.py's own; with `epochs`, it counts only evaluations after `from_epoch`."""
    best, since = -1.0, 0
    for i, f1 in enumerate(f1s):
        improved = f1 > best
        if new_rule:
            epoch = epochs[i] if epochs is not None else from_epoch + 1
            since = 0 if improved else since + counts_against_patience(f1, epoch, from_epoch)
        else:
            since = 0 if improved or f1 == 0 == best else since + 1
        best = max(best, f1)
        if since >= patience:
            return i
    return None


def main(root: Path) -> None:
    n = stops = 0
    for curve in sorted(root.rglob("dev_curve.csv")):
        info = json.loads((curve.parent / "run_info.json").read_text())
        if not info.get("patience"):
            continue
        n += 1
        rows = list(csv.DictReader(curve.open()))
        f1s, epochs = [float(r["dev_f1"]) for r in rows], [float(r["epoch"]) for r in rows]
        old = stop_index(f1s, info["patience"], False)
        new = stop_index(f1s, info["patience"], True, epochs, info.get("patience_from_epoch") or 0)
        if info.get("stopped_early") and new != len(f1s) - 1:
            print(f"today's rule does not reproduce the recorded stop: {curve.parent}")
        if old != new:
            print(f"the old rule stops it sooner: {curve.parent} (at evaluation {old}, today's at {new}; "
                  f"{len(f1s)} recorded)")
        if info.get("stopped_early"):
            stops += 1
            late = stop_index(f1s, info["patience"], True, epochs, info["epoch_cap"] / 3)
            if late != len(f1s) - 1:
                print(f"counting after epoch {info['epoch_cap'] / 3:g} it goes on: {curve.parent} "
                      f"(best epoch {info['best_epoch']:g}, stopped at {epochs[-1]:g})")
    print(f"{n} runs with patience, {stops} stopped early")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/results"))
