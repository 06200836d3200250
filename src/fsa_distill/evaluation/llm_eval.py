"""`fsa-distill llm-eval`: an LLM as an FSA system, scored like a fine-tuned student.

    fsa-distill llm-eval --backend openai --base-url http://127.0.0.1:8000/v1 --llm-model M \\
        --task atsa --dataset rest14 --shots 4 --seed 42
    fsa-distill llm-eval configs/llm-eval/openai-rest14.yaml shots=0

The LLM answers each sentence of test+hard once (zero-shot, or k-shot with k demonstrations drawn
from train with the seed, the same k for every sentence); its answer is parsed into the reference
target string (llm_prompts.parse_fsa_answer) and every view is scored by the benchmark scorer, as
`evaluate` scores a student. The run folder holds:

    config.yaml            the resolved config
    run_info.json          kind "llm-eval", model, seed, task, dataset, shots, answer counts, backend
    metrics.json           {view: {precision, recall, f1, ..., answers}} like finetune's
    metrics_<view>.json, predictions_<view>.jsonl   as `evaluate` writes them (raw answer kept)
    answers.jsonl          every answer: raw text, parse status, finish reason, tokens, error
    prompt.json            the demonstrations and one fully rendered prompt

Unparseable answers are not dropped: they score as "no pairs" (recall is lost, as with a student
that writes nothing) and are counted per view under `answers`.

The backend options and runner here are shared with `fsa-distill zeroshot --backend ...`.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Optional

from pydantic import Field, field_validator, model_validator

from fsa_distill.config import (StrictConfig, add_config_args, apply_overrides, build_config, dump_config, read_yaml,
                                split_config_args)
from fsa_distill.errors import FsaError
from fsa_distill.teacher.config import SECRET_KEYS, BackendConfig

BACKEND_TYPES = ("replay", "openai", "transformers", "llama-cpp")


# ---------------------------------------------------------------------------- shared backend bits
class LLMGeneration(StrictConfig):
    # Greedy by default: an evaluation should give the same answer twice.
    max_tokens: int = Field(128, ge=1)
    temperature: float = Field(0.0, ge=0)
    concurrency: int = Field(8, ge=1)


def check_backend_section(data):
    """Before validation: a clear message for a missing type, and no secret in a saved config."""
    backend = data.get("backend") if isinstance(data, dict) else None
    if isinstance(backend, dict):
        for k in SECRET_KEYS:
            if k in backend:  # raised here so that pydantic never echoes the value
                raise FsaError(f"backend.{k}: do not put secrets in the config; export the key and set "
                               "backend.api_key_env to the variable's NAME")
        if "type" not in backend:
            raise FsaError(f"backend.type: missing (one of {', '.join(BACKEND_TYPES)})")
    return data


def add_backend_args(p) -> None:
    g = p.add_argument_group("LLM backend (the teacher's backends; see docs/teacher.md)")
    g.add_argument("--backend", choices=BACKEND_TYPES, help="backend type")
    g.add_argument("--base-url", help="openai: server URL, e.g. http://127.0.0.1:8000/v1")
    g.add_argument("--llm-model", help="openai: model name; transformers: model folder or hub id")
    g.add_argument("--model-path", help="llama-cpp: GGUF file")
    g.add_argument("--recordings", help="replay: recorded answers (JSONL with text, kind, raw_response)")
    g.add_argument("--mode", choices=["chat", "completion"],
                   help="openai, llama-cpp, transformers: chat messages or a plain completion prompt")
    g.add_argument("--api-key-env", help="openai: NAME of the variable holding the key")
    g.add_argument("--max-tokens", type=int)
    g.add_argument("--temperature", type=float)
    g.add_argument("--concurrency", type=int)


def backend_flags(args) -> dict:
    """Flags -> nested config keys; only the flags given, so a config file's values survive."""
    backend = {"type": args.backend, "base_url": args.base_url, "model_path": args.model_path,
               "recordings": args.recordings, "mode": args.mode, "api_key_env": args.api_key_env,
               "model": args.llm_model}
    generation = {"max_tokens": args.max_tokens, "temperature": args.temperature, "concurrency": args.concurrency}
    out: dict = {}
    backend = {k: v for k, v in backend.items() if v is not None}
    generation = {k: v for k, v in generation.items() if v is not None}
    if backend:
        out["backend"] = backend
    if generation:
        out["generation"] = generation
    return out


def deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_run_config(cls, config: Optional[str], overrides: list[str], flags: dict):
    """YAML file, then command-line flags, then key=value overrides (last wins)."""
    data = read_yaml(config) if config else {}
    data = apply_overrides(deep_merge(data, flags), overrides)
    return build_config(cls, data, str(config) if config else "command line")


def run_prompts(backend, prompts: list, gen: LLMGeneration, progress: bool = True, desc: str = "LLM") -> list:
    """Completions in the order of `prompts`. Chunks keep a progress bar moving; within a chunk
    the backend runs `concurrency` requests at once."""
    from tqdm.auto import tqdm

    out = []
    chunk = max(32, 4 * gen.concurrency)
    with tqdm(total=len(prompts), desc=desc, disable=not progress, unit="prompt") as bar:
        for i in range(0, len(prompts), chunk):
            part = prompts[i:i + chunk]
            out += backend.complete_many(part, gen.concurrency, max_tokens=gen.max_tokens,
                                         temperature=gen.temperature)
            bar.update(len(part))
    return out


def completion_record(c) -> dict:
    return {"raw": c.text, "finish_reason": c.finish_reason, "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens, "error": c.error}


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-")[:60] or "model"


# ----------------------------------------------------------------------------------- llm-eval
class LLMEvalConfig(StrictConfig):
    task: str
    dataset: str
    data_dir: Optional[str] = None
    views: list[str] = ["normal", "test", "hard", "implicit", "multi"]
    shots: int = Field(0, ge=0, le=64)
    seed: int = 42  # draws the demonstrations
    limit: Optional[int] = Field(None, ge=1)  # first N sentences of test+hard, as `evaluate --limit`
    backend: BackendConfig  # the teacher stage's own backend configs; the prompt follows its mode
    generation: LLMGeneration = LLMGeneration()
    output: Optional[str] = None

    @model_validator(mode="before")
    @classmethod
    def _backend(cls, data):
        return check_backend_section(data)

    @field_validator("task")
    @classmethod
    def _task(cls, v):
        if v not in ("atsa", "acsa"):
            raise ValueError("expected atsa or acsa")
        return v


def pick_shots(train: list, k: int, seed: int, task: str) -> list[tuple[str, str]]:
    """k (sentence, target) demonstrations from train, drawn with `seed`. Sentences with at least
    one pair are preferred so the demonstrations show the answer format; `none` examples fill in
    only when there are too few."""
    import random

    from fsa_distill.benchmark.targets import make_target

    if k == 0:
        return []
    rng = random.Random(seed)
    with_pairs = [e for e in train if make_target(task, e)]
    without = [e for e in train if not make_target(task, e)]
    picked = rng.sample(with_pairs, min(k, len(with_pairs)))
    if len(picked) < k:
        picked += rng.sample(without, min(k - len(picked), len(without)))
    return [(e.sentence, make_target(task, e)) for e in picked]


def build_fsa_prompt(task: str, train: list, shots: int, seed: int):
    from fsa_distill.benchmark.targets import acsa_category
    from fsa_distill.evaluation.llm_prompts import FsaPrompt, polarity_inventory

    pols = polarity_inventory(a.polarity for e in train for a in e.aspects)
    cats = tuple(sorted({acsa_category(a.category) for e in train for a in e.aspects if a.category})) \
        if task == "acsa" else ()
    return FsaPrompt(task, pols, cats, tuple(pick_shots(train, shots, seed, task)))


def llm_eval(cfg: LLMEvalConfig, progress: bool = True) -> dict:
    from collections import Counter

    from fsa_distill.benchmark.data import load_split
    from fsa_distill.benchmark.scoring import score
    from fsa_distill.benchmark.views import canonical_view, load_views
    from fsa_distill.evaluation.evaluate import write_predictions
    from fsa_distill.evaluation.llm_prompts import ANSWER_STATUSES, parse_fsa_answer
    from fsa_distill.teacher.backends import make_backend

    # Data first: a wrong dataset fails before a model is loaded or a folder is made.
    views = load_views(cfg.task, cfg.dataset, cfg.data_dir)
    normal = views["normal"][:cfg.limit] if cfg.limit else views["normal"]
    train = load_split(cfg.task, cfg.dataset, "train", cfg.data_dir)
    prompt = build_fsa_prompt(cfg.task, train, cfg.shots, cfg.seed)
    backend = make_backend(cfg.backend)
    mode = backend.mode  # transformers resolves "auto" from the tokenizer's chat template
    label = f"{backend.teacher} ({cfg.shots}-shot)"
    out = Path(cfg.output) if cfg.output else \
        Path("runs") / "llm-eval" / f"{cfg.task}-{Path(cfg.dataset).name}-{slug(backend.teacher)}-k{cfg.shots}-s{cfg.seed}"
    out.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, out / "config.yaml")
    rendered = [prompt.render(e.sentence, mode) for e in normal]
    example = rendered[0] if rendered else None
    (out / "prompt.json").write_text(json.dumps(
        {"mode": mode, "shots": [list(s) for s in prompt.shots], "polarities": list(prompt.polarities),
         "categories": list(prompt.categories),
         "example": {"messages": list(example.messages) if example and example.messages else None,
                     "text": example.text if example else None, "stop": list(example.stop) if example else []}},
        indent=2, ensure_ascii=False), encoding="utf-8")

    t0 = time.perf_counter()
    completions = run_prompts(backend, rendered, cfg.generation, progress, desc=f"{cfg.task}/{cfg.dataset}")
    elapsed = time.perf_counter() - t0

    parsed = {}
    with open(out / "answers.jsonl", "w", encoding="utf-8") as f:
        for e, c in zip(normal, completions):
            a = parse_fsa_answer(cfg.task, c.text if c.finish_reason not in ("error", "no_recording") else "",
                                 e.sentence)
            parsed[e.id] = (a, c)
            f.write(json.dumps({"id": e.id, "sentence": e.sentence, **completion_record(c), "status": a.status,
                                "prediction": a.target, "dropped": list(a.dropped)}, ensure_ascii=False) + "\n")

    metrics = {}
    for view in dict.fromkeys(canonical_view(v) for v in cfg.views):
        examples = [e for e in views[view] if e.id in parsed]
        if not examples:  # e.g. `hard` under a limit: the reference rules would score it F1 = 1
            continue
        preds = [parsed[e.id][0].target for e in examples]
        raws = [parsed[e.id][1].text for e in examples]
        m = score(cfg.task, examples, preds)
        counts = Counter(parsed[e.id][0].status for e in examples)
        m.update(task=cfg.task, dataset=cfg.dataset, view=view,
                 answers={s: counts.get(s, 0) for s in ANSWER_STATUSES})
        write_predictions(out / f"predictions_{view}.jsonl", cfg.task, examples, preds, raws)
        (out / f"metrics_{view}.json").write_text(json.dumps(m, indent=2), encoding="utf-8")
        metrics[view] = m

    counts = Counter(a.status for a, _ in parsed.values())
    tokens = [c.completion_tokens for _, c in parsed.values() if c.completion_tokens is not None]
    info = {"kind": "llm-eval", "model": backend.teacher, "label": label, "seed": cfg.seed, "task": cfg.task,
            "dataset": cfg.dataset, "shots": cfg.shots, "mode": mode, "sentences": len(normal),
            "answers": {s: counts.get(s, 0) for s in ANSWER_STATUSES},
            "finish_reasons": dict(Counter(str(c.finish_reason) for _, c in parsed.values())),
            "completion_tokens": sum(tokens) if tokens else None,
            "elapsed_s": elapsed, "backend": backend.describe()}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    (out / "run_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return {"output": str(out), "metrics": metrics, "info": info}


# ----------------------------------------------------------------------------------------- CLI
def register(sub) -> None:
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
    p.add_argument("--views", help="comma-separated (default: normal,test,hard,implicit,multi)")
    p.add_argument("--output", help="run folder (default runs/llm-eval/<task>-<dataset>-<model>-k<shots>-s<seed>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_backend_args(p)
    p.set_defaults(func=run_llm_eval)


def run_llm_eval(args) -> int:
    from fsa_distill.ui import print_table

    config, overrides = split_config_args(args)
    flags = {k: v for k, v in {"task": args.task, "dataset": args.dataset, "data_dir": args.data_dir,
                               "shots": args.shots, "seed": args.seed, "limit": args.limit,
                               "output": args.output}.items() if v is not None}
    if args.views:
        flags["views"] = args.views.split(",")
    cfg = load_run_config(LLMEvalConfig, config, overrides, deep_merge(flags, backend_flags(args)))
    result = llm_eval(cfg, progress=not args.quiet)
    info = result["info"]
    rows = [(v, m["n_sentences"], f"{100 * m['precision']:.2f}", f"{100 * m['recall']:.2f}", f"{100 * m['f1']:.2f}")
            for v, m in result["metrics"].items()]
    print_table(f"{cfg.task}/{cfg.dataset}: {info['label']}", ("view", "sentences", "P", "R", "F1"), rows)
    print(json.dumps({"output": result["output"], "answers": info["answers"],
                      "f1": {v: m["f1"] for v, m in result["metrics"].items()}}))
    return 0
