"""The minilm student on ATSA rest14: one seed, fine-tuned on this machine, F1 with grounding on and off.

Runs the ordinary fine-tuning recipe (`fsa_distill.student.finetune.finetune`) with the tuned
defaults in configs/finetune/rest14-minilm.yaml (span-grounded decoding on, so the best epoch is
picked by grounded dev F1), then scores the same generated strings twice with the reference
scorer: as generated ("grounding off") and after grounding ("grounding on"). Nothing is generated
twice, so the difference is grounding alone.

Prints the training wall time (dev generation excluded, as in run_info.json), the machine load
(other processes slow a 2-core CPU a lot) and P/R/F1 per view. Usage:

    python benchmarks/minilm_rest14.py                          # the shipped defaults
    python benchmarks/minilm_rest14.py train.epochs=2 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "finetune" / "rest14-minilm.yaml"


def rescore(task: str, dataset: str, eval_dir: Path, view: str, data_dir=None) -> dict:
    """(grounding off, grounding on) metrics for one view from the run's predictions file."""
    from fsa_distill.benchmark.scoring import score
    from fsa_distill.benchmark.views import load_view

    with open(eval_dir / f"predictions_{view}.jsonl", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    by_id = {e.id: e for e in load_view(task, dataset, view, data_dir)}
    examples = [by_id[r["id"]] for r in records]
    raw = [r.get("raw_prediction", r["prediction"]) for r in records]
    final = [r["prediction"] for r in records]
    return {"off": score(task, examples, raw, bootstrap=0), "on": score(task, examples, final, bootstrap=0),
            "changed": sum(a != b for a, b in zip(raw, final)), "sentences": len(records)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("overrides", nargs="*", help="config overrides, key=value (e.g. train.epochs=3 seed=52)")
    ap.add_argument("--config", default=str(CONFIG))
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's choice; 1 is faster on a busy 2-core machine)")
    ap.add_argument("--output", default=None, help="run folder (default: the config's output_dir)")
    args = ap.parse_args()

    import torch

    from fsa_distill.config import load_config
    from fsa_distill.student.finetune import FinetuneConfig, finetune

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = list(args.overrides) + [f"output_dir={args.output}"] * bool(args.output)
    cfg = load_config(FinetuneConfig, args.config, overrides)
    if not cfg.decode.grounding:
        raise SystemExit("this benchmark compares grounding on/off: run it with decode.grounding=true")
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    result = finetune(cfg, progress=False)
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    info, run_dir = result["info"], Path(result["run_dir"])
    timing = info["timing"]

    print(f"\nminilm on {cfg.task}/{cfg.dataset}, seed {cfg.seed}: model {cfg.model}, lr {cfg.train.learning_rate}, "
          f"batch {cfg.train.batch_size}, epochs {cfg.train.epochs}, {info['steps']} steps, "
          f"{info['parameters'] / 1e6:.1f}M parameters")
    print(f"machine: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, load average "
          f"{load_before[0]:.1f} at start / {load_after[0]:.1f} at end")
    print(f"training wall time {timing['train_s'] / 60:.1f} min (dev generation {timing['dev_eval_s'] / 60:.1f} min "
          f"excluded), test generation {timing['test_eval_s'] / 60:.1f} min, whole run {wall / 60:.1f} min")
    print(f"best epoch {info['best_epoch']} by grounded dev F1 {100 * info['best_dev_f1']:.2f}")
    print(f"\n{'view':<9} {'sents':>5} {'changed':>7}   {'F1 off':>6} {'F1 on':>6} {'delta':>6}   "
          f"{'P on':>6} {'R on':>6}")
    summary = {}
    for view in cfg.views:
        s = rescore(cfg.task, cfg.dataset, run_dir / "eval", view, cfg.data_dir)
        off, on = 100 * s["off"]["f1"], 100 * s["on"]["f1"]
        print(f"{view:<9} {s['sentences']:>5} {s['changed']:>7}   {off:>6.2f} {on:>6.2f} {on - off:>+6.2f}   "
              f"{100 * s['on']['precision']:>6.2f} {100 * s['on']['recall']:>6.2f}")
        summary[view] = {"f1_grounding_off": s["off"]["f1"], "f1_grounding_on": s["on"]["f1"],
                         "precision_on": s["on"]["precision"], "recall_on": s["on"]["recall"],
                         "sentences": s["sentences"], "predictions_changed": s["changed"]}
    out = {"config": cfg.model_dump(mode="json"), "steps": info["steps"], "timing": timing, "wall_s": wall,
           "load_average": {"start": load_before, "end": load_after}, "threads": torch.get_num_threads(),
           "best_epoch": info["best_epoch"], "best_dev_f1": info["best_dev_f1"], "views": summary}
    (run_dir / "benchmark_minilm.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(f"\nrun folder: {run_dir} (benchmark_minilm.json, metrics.json, eval/)")


if __name__ == "__main__":
    main()
