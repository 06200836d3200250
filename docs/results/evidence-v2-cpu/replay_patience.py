"""Replays early stopping over every committed dev curve, under the rule the runs were made with
(evaluations at dev F1 0 do not count against patience only before the first F1 above 0) and
under today's (an evaluation at F1 0 never counts; student/selection.py), and lists the runs whose
stopping point differs. It reads only the records (dev_curve.csv, run_info.json).

    python docs/results/evidence-v2-cpu/replay_patience.py [docs/results]

Measured on 2026-12-05 over docs/results: 81 runs with patience, the old rule reproduces every
recorded stop, and the new one differs on 4: the three acsa rest16 tagger-cap60 runs and
tagger-distilled-cap60 seed 42 (a chance first score, then a silent head), which were re-run.
"""

import csv
import json
import sys
from pathlib import Path


def stop_index(f1s: list[float], patience: int, new_rule: bool) -> int | None:
    """The evaluation at which training stops (None: it runs to the cap)."""
    best, since = -1.0, 0
    for i, f1 in enumerate(f1s):
        improved = f1 > best
        if new_rule:
            since = 0 if improved else since + (f1 > 0)
        else:
            since = 0 if improved or f1 == 0 == best else since + 1
        best = max(best, f1)
        if since >= patience:
            return i
    return None


def main(root: Path) -> None:
    n = 0
    for curve in sorted(root.rglob("dev_curve.csv")):
        info = json.loads((curve.parent / "run_info.json").read_text())
        if not info.get("patience"):
            continue
        n += 1
        f1s = [float(row["dev_f1"]) for row in csv.DictReader(curve.open())]
        old, new = (stop_index(f1s, info["patience"], rule) for rule in (False, True))
        if info.get("stopped_early") and old != len(f1s) - 1:
            print(f"old rule does not reproduce the recorded stop: {curve.parent}")
        if old != new:
            print(f"differs: {curve.parent} (old stops at evaluation {old}, new at {new}; {len(f1s)} recorded)")
    print(f"{n} runs with patience")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/results"))
