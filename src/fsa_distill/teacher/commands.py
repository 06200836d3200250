"""`fsa-distill generate [CONFIG.yaml] [key=value ...]`: build the distillation corpus."""

from __future__ import annotations

import json

from fsa_distill.cli_args import add_config_args, add_progress_flag, split_config_args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "generate", help="prompt a teacher LLM about each review and write the corpus (resumable)",
        description="Generate the sentiment-understanding corpus. Without a config the shipped "
        "500-review sample is replayed from recorded Mixtral answers (offline). Re-running the same "
        "command resumes: finished records are skipped.")
    add_config_args(p, "configs/generate/openai.yaml", "backend.base_url=http://localhost:11434/v1 output_dir=runs/c1")
    add_progress_flag(p)
    p.add_argument("--json", action="store_true", help="print only the summary JSON on stdout")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="ray: shard the reviews over a Ray cluster (extra `ray`; see docs/ray.md)")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="Ray cluster to join, e.g. auto or 10.0.0.1:6379 (default: $RAY_ADDRESS, else a local instance)")
    p.set_defaults(func=run_generate)


def run_generate(args) -> int:
    from fsa_distill.config import load_config
    from fsa_distill.teacher.config import GenerateConfig
    from fsa_distill.teacher.generate import generate_corpus

    config, overrides = split_config_args(args)
    cfg = load_config(GenerateConfig, config, overrides)
    if args.executor == "ray":
        from fsa_distill.teacher.ray_generate import generate_corpus_on_ray

        summary = generate_corpus_on_ray(cfg, progress=not args.quiet, address=args.ray_address)
    else:
        summary = generate_corpus(cfg, progress=not args.quiet)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(summary)
    return 0


def print_summary(summary: dict) -> None:
    from fsa_distill.ui import console, print_table

    run, tot = summary["run"], summary["corpus_totals"]
    rows = [(kind, c["records"], c["ok"], c["dropped"]) for kind, c in tot["per_kind"].items()]
    print_table(f"corpus {summary['corpus']}", ["kind", "records", "ok", "dropped"], rows)
    if tot["drops"] or tot["flags"]:
        names = list(dict.fromkeys([*tot["drops"], *tot["flags"]]))
        print_table("checks", ["check", "dropped", "flagged"],
                    [(n, tot["drops"].get(n, 0), tot["flags"].get(n, 0)) for n in names])
    rv = summary["reviews"]
    print_table("this run", ["", "value"], [
        ("reviews kept / read", f"{rv.get('kept', 0)} / {rv.get('read', 0)}"),
        ("reviews dropped: duplicate, too short, too long, benchmark leak",
         f"{rv.get('duplicate', 0)}, {rv.get('too_short', 0)}, {rv.get('too_long', 0)}, {rv.get('benchmark_leak', 0)}"),
        ("records planned / already done / written", f"{run['planned']} / {run['already_done']} / {run['written']}"),
        ("no recorded answer (replay)", run["no_recording"]),
        ("retried requests", run["retries"]),
        ("tokens prompt / completion", f"{_n(run['prompt_tokens'])} / {_n(run['completion_tokens'])}"),
        ("elapsed", f"{run['elapsed_s']:.1f} s"),
        ("throughput", f"{run['records_per_s']:.1f} records/s, {_n(run['completion_tokens_per_s'])} tokens/s"),
    ])
    console().print(json.dumps({"corpus": summary["corpus"], "run": run, "corpus_totals": tot}))


def _n(x) -> str:
    return "n/a" if x is None else str(x)
