"""`fsa-distill evaluate`, `zeroshot`, `llm-eval` and `report`: the evaluation stage's commands."""

from __future__ import annotations

import json

from fsa_distill.benchmark.views import VIEWS
from fsa_distill.cli_args import add_config_args, add_progress_flag, split_config_args
from fsa_distill.inference.fast import add_fast_flags


def register(sub) -> None:
    e = sub.add_parser("evaluate", help="evaluate a saved model on every view of a dataset")
    e.add_argument("--model", required=True, help="model folder, preset or hub id")
    e.add_argument("--task", choices=["atsa", "acsa"], help="default: the model's own (fsa_distill.json)")
    e.add_argument("--dataset", help="default: the model's own; a shipped name or a dataset folder "
                   "(e.g. from `data import`): another dataset than the model's is a cross-domain evaluation")
    e.add_argument("--data-dir", help="a folder of <task>/<dataset>/ folders, or one dataset folder")
    e.add_argument("--views", default=",".join(VIEWS))
    e.add_argument("--output", help="folder for predictions and metrics (default: <model>/eval-<task>-<dataset>, "
                   "with -fast[-<compute type>] after it for --fast)")
    e.add_argument("--batch-size", type=int, help="default: the model's recorded decode settings (else 64)")
    e.add_argument("--max-length", type=int, help="default: the model's recorded setting (else 100, the reference's)")
    e.add_argument("--num-beams", type=int, help="default: the model's recorded setting (else 1, greedy)")
    e.add_argument("--grounding", action="store_true", help="map generated terms to the sentence's characters "
                   "(default: as the model was evaluated)")
    e.add_argument("--limit", type=int, help="only the first N test+hard sentences")
    add_fast_flags(e)  # score exactly what `predict --fast` / `serve --fast` would answer
    add_progress_flag(e)
    e.set_defaults(func=run_evaluate)
    register_zeroshot(sub)
    register_llm_eval(sub)
    register_report(sub)


def run_evaluate(args) -> int:
    from pathlib import Path

    from fsa_distill import runs
    from fsa_distill.evaluation.evaluate import (
        SUMMARY_COLUMNS,
        evaluate_views,
        summary_rows,
    )
    from fsa_distill.inference.student import load
    from fsa_distill.models import read_meta, resolve_model
    from fsa_distill.ui import print_table

    check_arguments(args)
    meta = read_meta(resolve_model(args.model))
    task, dataset, data_dir, name = eval_dataset(args, meta)
    # The model's recorded decode settings (fsa_distill.json), changed only where a flag asks:
    # a model is scored the way `predict` and `serve` answer with it.
    student = load(args.model, task=task, fast=args.fast, compute_type=args.compute_type,
                   overrides={"batch_size": args.batch_size, "max_length": args.max_length,
                              "num_beams": args.num_beams, "grounding": True if args.grounding else None})
    fast = student.compute_type
    suffix = "" if not fast else "-fast" if fast == "float32" else f"-fast-{fast}"
    out = Path(args.output) if args.output else \
        Path(resolve_model(args.model)) / f"eval-{task}-{Path(dataset).name}{suffix}"
    scores = evaluate_views(student, task, dataset, out, views=args.views.split(","), data_dir=data_dir,
                            limit=args.limit, progress=not args.quiet)
    trained_on = meta.get("dataset")
    cross = f" (trained on {meta.get('task')}/{Path(str(trained_on)).name})" \
        if trained_on and Path(str(trained_on)).name != name else ""
    print_table(f"{task}/{name}: {args.model}{cross}", SUMMARY_COLUMNS, summary_rows(scores.metrics))
    for view, why in scores.unavailable.items():
        print(f"view {view}: skipped, unavailable on {name} ({why})")
    info = {"model": args.model, "family": student.family, "task": task, "dataset": dataset, "dataset_name": name,
            "trained_on": trained_on, "unavailable_views": scores.unavailable, "generation": scores.timing,
            "decode": student.decode.model_dump(), "fast": args.fast, "compute_type": student.compute_type}
    runs.write_json(out / runs.METRICS_FILE, {k: dict(v, trained_on=trained_on) for k, v in scores.metrics.items()})
    runs.write_json(out / "eval_info.json", info)
    print(json.dumps({"output": str(out), "dataset": name, "trained_on": trained_on,
                      "f1": {v: m["f1"] for v, m in scores.metrics.items()}, "unavailable": scores.unavailable}))
    return 0


def eval_dataset(args, meta: dict) -> tuple[str, str, str | None, str]:
    """(task, dataset, data_dir, name) to evaluate on: the model's own unless --dataset/--data-dir
    name another (a shipped name, a dataset folder, or --data-dir being one dataset folder)."""
    from pathlib import Path

    from fsa_distill.benchmark.data import dataset_info, dataset_label
    from fsa_distill.errors import FsaError

    dataset, data_dir = args.dataset, args.data_dir
    if data_dir and not Path(data_dir).is_dir():
        raise FsaError(f"--data-dir {data_dir}: " + ("not a folder" if Path(data_dir).exists() else "folder not found"))
    if data_dir and not dataset and (Path(data_dir) / "test.json").exists():
        dataset, data_dir = data_dir, None  # --data-dir is itself one dataset folder
    dataset = dataset or meta.get("dataset")
    folder = Path(data_dir) / dataset if data_dir and dataset else Path(dataset) if dataset else None
    folder_task = dataset_info(folder).get("task") if folder is not None and folder.is_dir() else None
    task = args.task or meta.get("task")
    if folder_task and not args.task and task and folder_task != task:
        raise FsaError(f"{folder}: an {folder_task} dataset, but the model is {task}: pass --task to force it")
    task = task or folder_task
    if not task or not dataset:
        raise FsaError(f"model {args.model!r} does not record its task/dataset: pass --task and --dataset")
    return task, dataset, data_dir, dataset_label(dataset, data_dir)


def check_arguments(args) -> None:
    """Every option of `evaluate`, before a model is loaded: one line naming the option."""
    from fsa_distill.benchmark.views import canonical_view
    from fsa_distill.errors import FsaError
    from fsa_distill.models import check_model_spec
    from fsa_distill.resources import check_output_dir

    for name in ("batch_size", "max_length", "num_beams", "limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise FsaError(f"--{name.replace('_', '-')} must be at least 1 (got {value})")
    from fsa_distill.inference.fast import check_fast_settings

    check_fast_settings(args.fast, args.compute_type)
    for view in args.views.split(","):
        canonical_view(view.strip())
    check_model_spec(args.model)
    if args.output:
        check_output_dir(args.output, "--output folder")


# ------------------------------------------------------------------------------------- llm-eval
def register_llm_eval(sub) -> None:
    from fsa_distill.evaluation.llm_backend import add_backend_args

    p = sub.add_parser("llm-eval", help="score an LLM as an FSA system (zero- or k-shot prompts)",
                       description="Prompt an LLM for the aspect/category polarity pairs of every test+hard "
                       "sentence, parse its answers into the reference target strings and score all views.")
    add_config_args(p, "configs/llm-eval/openai-rest14.yaml", "shots=4")
    p.add_argument("--task", choices=["atsa", "acsa"])
    p.add_argument("--dataset", help="rest14, laptop14 (atsa), rest16, laptop16 (acsa)")
    p.add_argument("--data-dir", help="a folder with <task>/<dataset>/{train,test,hard_test}.json")
    p.add_argument("--shots", type=int, help="demonstrations drawn from train (default 0)")
    p.add_argument("--seed", type=int, help="draws the demonstrations (default 42)")
    p.add_argument("--limit", type=int, help="only the first N test+hard sentences")
    p.add_argument("--views", help=f"comma-separated (default: {','.join(VIEWS)})")
    p.add_argument("--output", help="run folder (default runs/llm-eval/<task>-<dataset>-<model>-k<shots>-s<seed>)")
    add_progress_flag(p)
    add_backend_args(p)
    p.set_defaults(func=run_llm_eval)


def run_llm_eval(args) -> int:
    from fsa_distill.config import load_config
    from fsa_distill.evaluation.llm_backend import backend_flags
    from fsa_distill.evaluation.llm_eval import LLMEvalConfig, llm_eval
    from fsa_distill.ui import print_table

    config, overrides = split_config_args(args)
    flags = {"task": args.task, "dataset": args.dataset, "data_dir": args.data_dir, "shots": args.shots,
             "seed": args.seed, "limit": args.limit, "output_dir": args.output,
             "views": args.views.split(",") if args.views else None, **backend_flags(args)}
    cfg = load_config(LLMEvalConfig, config, overrides, flags)
    result = llm_eval(cfg, progress=not args.quiet)
    info = result["info"]
    rows = [(v, m["n_sentences"], f"{100 * m['precision']:.2f}", f"{100 * m['recall']:.2f}", f"{100 * m['f1']:.2f}")
            for v, m in result["metrics"].items()]
    print_table(f"{cfg.task}/{cfg.dataset}: {info['label']}", ("view", "sentences", "P", "R", "F1"), rows)
    print(json.dumps({"output": result["output"], "answers": info["answers"],
                      "f1": {v: m["f1"] for v, m in result["metrics"].items()}}))
    return 0


# ------------------------------------------------------------------------------------- zeroshot
def register_zeroshot(sub) -> None:
    from fsa_distill.evaluation.llm_backend import add_backend_args

    p = sub.add_parser("zeroshot", help="zero-shot polarity (SST-2, Yelp-2, any file) with a student or an LLM",
                       description="Classify sentence/review polarity with a student never fine-tuned on the "
                       "task (label-word scoring and analysis aggregation) or with an LLM through a teacher "
                       "backend. Reports accuracy and macro-F1.")
    add_config_args(p, "configs/zeroshot/student-sst2.yaml", "label_words.template='Review: {text}'")
    p.add_argument("--model", help="student: preset (tiny), folder or hub id")
    p.add_argument("--dataset", help="sst2, yelp2, or a JSON/JSONL file of {sentence, label}")
    p.add_argument("--split", help="shipped split: test (default), val; yelp2 also train")
    p.add_argument("--method", choices=["label-words", "analysis", "both"], help="student methods (default both)")
    p.add_argument("--limit", type=int, help="a seeded random subset of N items")
    p.add_argument("--seed", type=int)
    p.add_argument("--output", help="run folder (default runs/zeroshot/<dataset>-<split>-<model>)")
    add_progress_flag(p)
    add_backend_args(p)
    p.set_defaults(func=run_zeroshot)


def run_zeroshot(args) -> int:
    from fsa_distill.config import load_config
    from fsa_distill.evaluation.llm_backend import backend_flags
    from fsa_distill.evaluation.zeroshot import METHODS, ZeroShotConfig, zeroshot
    from fsa_distill.ui import print_table

    config, overrides = split_config_args(args)
    methods = (list(METHODS) if args.method == "both" else [args.method]) if args.method else None
    flags = {"model": args.model, "dataset": args.dataset, "split": args.split, "limit": args.limit,
             "seed": args.seed, "output_dir": args.output, "methods": methods, **backend_flags(args)}
    cfg = load_config(ZeroShotConfig, config, overrides, flags)
    result = zeroshot(cfg, progress=not args.quiet)
    rows = [(method, m["n"], f"{100 * m['accuracy']:.2f}", f"{100 * m['macro_f1']:.2f}", m["undecided"])
            for method, m in result["metrics"].items()]
    print_table(f"zero-shot {cfg.dataset}/{cfg.split}: {result['info']['model']}",
                ("method", "items", "accuracy", "macro-F1", "undecided"), rows)
    print(json.dumps({"output": result["output"],
                      "accuracy": {k: m["accuracy"] for k, m in result["metrics"].items()},
                      "macro_f1": {k: m["macro_f1"] for k, m in result["metrics"].items()}}))
    return 0


# --------------------------------------------------------------------------------------- report
def register_report(sub) -> None:
    p = sub.add_parser("report", help="tables (Markdown, CSV, LaTeX) and plots over runs and seeds")
    p.add_argument("runs", nargs="+", help="run folders (searched recursively)")
    p.add_argument("--output", help="where to write (default: <first run folder>/report)")
    p.add_argument("--baseline", help="model label the others are compared with")
    p.add_argument("--pretrain", nargs="*", default=[], help="pretraining folders whose loss curves to plot")
    p.set_defaults(func=run_report)


def run_report(args) -> int:
    from pathlib import Path

    from fsa_distill.evaluation.report import write_report

    out = args.output or str(Path(args.runs[0]) / "report")
    result = write_report(args.runs, out, args.baseline, extra_dirs=args.pretrain)
    print(result["markdown"])
    print(f"written to {out}: report.md, report.csv, report.tex, report.json, {', '.join(result['plots'])}")
    return 0
