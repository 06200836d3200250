"""`fsa-distill run CONFIG.yaml [key=value ...] [--dry-run] [--jobs N]`."""

from __future__ import annotations

from fsa_distill.cli_args import add_progress_flag


def register(sub) -> None:
    p = sub.add_parser("run", help="the whole method from one experiment file",
                       description="reviews → generate → pretrain → finetune (students × tasks × datasets × seeds) "
                       "→ evaluate → report. Finished stages are skipped; interrupted ones resume.")
    p.add_argument("config", help="experiment YAML, e.g. configs/quickstart.yaml")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    p.add_argument("--report-only", action="store_true",
                   help="write the report over the runs finished so far (here or in results_dir) and stop")
    p.add_argument("--jobs", type=int, help="fine-tuning jobs in parallel (overrides the file)")
    p.add_argument("--executor", choices=["local", "ray"], help="where fine-tuning jobs run")
    p.add_argument("--students", type=_names, metavar="NAME[,NAME]",
                   help="run only these students' stages (and the pretrainings they need); the rest "
                        "of the plan is skipped, its folders unchanged, so a later run continues it")
    add_progress_flag(p)
    p.set_defaults(func=run)


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError("empty")
    return names


def run(args) -> int:
    from fsa_distill.config import load_config
    from fsa_distill.pipeline.config import PipelineConfig, check_datasets
    from fsa_distill.pipeline.run import run_pipeline

    from fsa_distill.cli_args import split_config_args

    path, overrides = split_config_args(args)
    cfg = load_config(PipelineConfig, path, overrides, flags={"jobs": args.jobs, "executor": args.executor})
    check_datasets(cfg, path)  # every stage config is then built once, as the plan is made
    result = run_pipeline(cfg, dry_run=args.dry_run, progress=not args.quiet, report_only=args.report_only,
                          students=args.students)
    if not args.dry_run:
        print(result["report"]["markdown"])
        print(f"report: {result['report']['out']}/report.md (plots: {', '.join(result['report']['plots'])})")
        models = [s.out / "best_model" for s in result["stages"]
                  if s.kind == "finetune" and (s.out / "best_model" / "config.json").is_file()]
        if models:
            print(f"try a trained model: fsa-distill predict --model {models[0]} "
                  '"The pasta was great but the waiter was rude."')
    return 0
