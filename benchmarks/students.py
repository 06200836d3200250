"""The two student families side by side, trained to convergence on this machine, in one run.

For each family (extractive `minilm-tagger`, generative `minilm`), each dataset and seed: the
ordinary fine-tuning recipe (`fsa_distill.student.finetune.finetune`) with the shipped config
(configs/finetune/<dataset>-minilm-tagger.yaml, configs/finetune/rest14-minilm.yaml), early
stopping on dev F1, then every view scored by the reference scorer. Prints and writes
(benchmarks/results/students.{md,json}) normal/test/hard/implicit/multi F1, training minutes (dev
analysis excluded, as run_info.json counts them), the best epoch and whether the run converged,
with the machine's load, since other processes slow a 2-core CPU a lot.

    python benchmarks/students.py                                    # rest14 x 3 seeds + laptop14, rest16
    python benchmarks/students.py --families extractive --runs rest14:42   # one run
    python benchmarks/students.py --families extractive-mpnet --runs rest14:42   # the 110M warm start
    python benchmarks/students.py --runs rest14:42 --families generative train.epochs=12

Runs already in the results file are not trained again (the file is rewritten after every run), so
the script can be resumed across sittings.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
# family -> (shipped config, overrides it needs). The mpnet row is the tagger recipe with the larger
# warm start (all-mpnet-base-v2, 110M, `bash scripts/install.sh mpnet`) and the encoder learning
# rate usual for a base-size encoder (5e-5; MiniLM-L6's 1e-4 is the small model's), nothing else
# (for rest14 that is configs/finetune/rest14-mpnet-tagger.yaml exactly; other datasets keep their recipe)
FAMILIES = {"extractive": ("configs/finetune/{dataset}-minilm-tagger.yaml", []),
            "extractive-mpnet": ("configs/finetune/{dataset}-minilm-tagger.yaml",
                                 ["model=mpnet-tagger", "train.learning_rate=5.0e-5"]),
            "generative": ("configs/finetune/rest14-minilm.yaml", [])}
TASK_OF = {"rest14": "atsa", "laptop14": "atsa", "rest16": "acsa", "laptop16": "acsa"}
DEFAULT_RUNS = "rest14:42,rest14:52,rest14:62,laptop14:42,rest16:42"
VIEWS = ("normal", "test", "hard", "implicit", "multi")


def run_one(family: str, dataset: str, seed: int, out_root: Path, overrides: list[str]) -> dict:
    from fsa_distill.config import load_config
    from fsa_distill.student.finetune import FinetuneConfig, finetune

    config, family_overrides = FAMILIES[family]
    path = ROOT / config.format(dataset=dataset)
    if not path.exists():  # the generative config is rest14's: other datasets by override
        path = ROOT / config.format(dataset="rest14")
    cfg = load_config(FinetuneConfig, path, [f"task={TASK_OF[dataset]}", f"dataset={dataset}", f"seed={seed}",
                                             f"output_dir={out_root}/{family}/{dataset}-seed{seed}",
                                             *family_overrides, *overrides])
    load_before = os.getloadavg()[0]
    result = finetune(cfg, progress=False)
    info, metrics = result["info"], result["metrics"]
    return {"family": family, "dataset": dataset, "task": cfg.task, "seed": seed, "model": cfg.model,
            "f1": {v: metrics[v]["f1"] for v in VIEWS if v in metrics},
            "train_min": info["timing"]["train_s"] / 60, "dev_min": info["timing"]["dev_eval_s"] / 60,
            "best_epoch": info["best_epoch"], "epoch_cap": cfg.train.epochs, "converged": info.get("converged"),
            "steps": info["steps"], "parameters": info["parameters"], "skipped": bool(result.get("skipped")),
            "load_average": [load_before, os.getloadavg()[0]], "run_dir": result["run_dir"],
            "overrides": [*family_overrides, *overrides]}


def table(rows: list[dict]) -> str:
    head = "| family | dataset | seed | " + " | ".join(VIEWS) + " | train min | best epoch / cap | converged | load |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        f1 = " | ".join(f"{100 * r['f1'][v]:.2f}" if v in r["f1"] else "–" for v in VIEWS)
        conv = {True: "yes", False: "no", None: "–"}[r["converged"]]
        lines.append(f"| {r['family']} | {r['dataset']} | {r['seed']} | {f1} | {r['train_min']:.1f} | "
                     f"{r['best_epoch']} / {r['epoch_cap']:g} | {conv} | "
                     f"{r['load_average'][0]:.1f}-{r['load_average'][1]:.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("overrides", nargs="*", help="config overrides for every run, key=value")
    ap.add_argument("--families", default="extractive,generative",
                    help=f"comma-separated, of {', '.join(FAMILIES)} (default: %(default)s)")
    ap.add_argument("--runs", default=DEFAULT_RUNS, help="dataset:seed,... (default: %(default)s)")
    ap.add_argument("--output", default="runs/bench-students", help="root of the run folders")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "students"),
                    help="where the table goes (.md and .json)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args()
    unknown = sorted(set(args.families.split(",")) - set(FAMILIES))
    if unknown:
        ap.error(f"--families: unknown {', '.join(unknown)} (known: {', '.join(FAMILIES)})")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    # Rows already in the results file are kept as measured (their load and minutes are those of
    # the sitting that ran them); the file is rewritten after every run, so a long run can be
    # committed as it goes and resumed in a later sitting.
    results = Path(args.results + ".json")
    rows = json.loads(results.read_text(encoding="utf-8"))["runs"] if results.is_file() else []
    t0 = time.perf_counter()
    for spec in args.runs.split(","):
        dataset, seed = spec.split(":")
        for family in args.families.split(","):
            if any((r["family"], r["dataset"], r["seed"]) == (family, dataset, int(seed)) for r in rows):
                continue
            rows.append(run_one(family, dataset, int(seed), Path(args.output), args.overrides))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
            write_results(args.results, rows, torch.get_num_threads(), time.perf_counter() - t0)
    print("\n" + write_results(args.results, rows, torch.get_num_threads(), time.perf_counter() - t0))


def write_results(stem: str, rows: list[dict], threads: int, seconds: float) -> str:
    rows = sorted(rows, key=lambda r: (r["dataset"] != "rest14", r["dataset"], r["family"], r["seed"]))
    machine = f"{os.cpu_count()} cores, torch threads {threads}, this invocation {seconds / 60:.1f} min"
    changed = sorted({"(not recorded)" if r.get("overrides") is None else " ".join(r["overrides"]) or "(none)"
                      for r in rows})
    text = f"{table(rows)}\n\nmachine: {machine}\noverrides of the shipped configs: {'; '.join(changed)}\n"
    Path(stem).parent.mkdir(parents=True, exist_ok=True)
    Path(stem + ".md").write_text(text, encoding="utf-8")
    Path(stem + ".json").write_text(json.dumps({"machine": machine, "runs": rows}, indent=2), encoding="utf-8")
    return text


if __name__ == "__main__":
    main()
