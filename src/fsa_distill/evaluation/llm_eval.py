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

The backend options and runner (llm_backend.py) are shared with `fsa-distill zeroshot --backend ...`.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Optional

from pydantic import Field, field_validator, model_validator

from fsa_distill import runs
from fsa_distill.benchmark.views import VIEWS
from fsa_distill.config import Renamed, StrictConfig
from fsa_distill.evaluation.llm_backend import (
    LLMGeneration,
    check_backend_section,
    completion_record,
    slug,
)
from fsa_distill.teacher.config import BackendConfig


class LLMEvalConfig(StrictConfig):
    renamed = {"output": Renamed("output_dir")}

    task: str
    dataset: str
    data_dir: Optional[str] = None
    views: list[str] = list(VIEWS)
    shots: int = Field(0, ge=0, le=64)
    seed: int = 42  # draws the demonstrations
    limit: Optional[int] = Field(None, ge=1)  # first N sentences of test+hard, as `evaluate --limit`
    backend: BackendConfig  # the teacher stage's own backend configs; the prompt follows its mode
    generation: LLMGeneration = LLMGeneration()
    output_dir: Optional[str] = None  # default runs/llm-eval/<task>-<dataset>-<model>-k<shots>-s<seed>

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
    """Prompt the LLM for every test+hard sentence, parse its answers, score every view."""
    from fsa_distill.benchmark.data import dataset_label, load_split
    from fsa_distill.benchmark.views import load_views
    from fsa_distill.evaluation.llm_backend import run_prompts
    from fsa_distill.teacher.backends import make_backend

    # Data first: a wrong dataset fails before a model is loaded or a folder is made.
    views = load_views(cfg.task, cfg.dataset, cfg.data_dir)
    normal = views["normal"][:cfg.limit] if cfg.limit else views["normal"]
    prompt = build_fsa_prompt(cfg.task, load_split(cfg.task, cfg.dataset, "train", cfg.data_dir), cfg.shots, cfg.seed)
    backend = make_backend(cfg.backend)
    mode = backend.mode  # transformers resolves "auto" from the tokenizer's chat template
    out = Path(cfg.output_dir) if cfg.output_dir else Path("runs") / "llm-eval" / (
        f"{cfg.task}-{Path(cfg.dataset).name}-{slug(backend.teacher)}-k{cfg.shots}-s{cfg.seed}")
    out.mkdir(parents=True, exist_ok=True)
    runs.write_config(cfg, out)
    rendered = [prompt.render(e.sentence, mode) for e in normal]
    write_prompt(out, prompt, mode, rendered[0] if rendered else None)
    t0 = time.perf_counter()
    completions = run_prompts(backend, rendered, cfg.generation, progress, desc=f"{cfg.task}/{cfg.dataset}")
    elapsed = time.perf_counter() - t0
    parsed = parse_answers(cfg.task, normal, completions, out)
    metrics = score_answers(cfg, views, parsed, out, dataset_label(cfg.dataset, cfg.data_dir))
    info = run_info(cfg, backend, mode, parsed, len(normal), elapsed)
    runs.write_run_record(out, info, metrics)
    return {"output": str(out), "metrics": metrics, "info": info}


def write_prompt(out: Path, prompt, mode: str, example) -> None:
    """prompt.json: the demonstrations, the label inventory and one fully rendered prompt."""
    runs.write_json(out / "prompt.json", {
        "mode": mode, "shots": [list(s) for s in prompt.shots], "polarities": list(prompt.polarities),
        "categories": list(prompt.categories),
        "example": {"messages": list(example.messages) if example and example.messages else None,
                    "text": example.text if example else None, "stop": list(example.stop) if example else []}})


def parse_answers(task: str, examples: list, completions: list, out: Path) -> dict:
    """{sentence id: (FsaAnswer, completion)}; every answer also goes to answers.jsonl."""
    from fsa_distill.evaluation.llm_prompts import parse_fsa_answer

    parsed, rows = {}, []
    for e, c in zip(examples, completions):
        a = parse_fsa_answer(task, c.text if c.finish_reason not in ("error", "no_recording") else "", e.sentence)
        parsed[e.id] = (a, c)
        rows.append({"id": e.id, "sentence": e.sentence, **completion_record(c), "status": a.status,
                     "prediction": a.target, "dropped": list(a.dropped)})
    runs.write_jsonl(out / "answers.jsonl", rows)
    return parsed


def score_answers(cfg: LLMEvalConfig, views: dict, parsed: dict, out: Path, name: str) -> dict:
    """Every view scored as a student's would be (evaluate.score_views), with the answer counts."""
    from fsa_distill.evaluation.evaluate import score_views
    from fsa_distill.evaluation.llm_prompts import ANSWER_STATUSES

    def answers(examples: list) -> dict:
        counts = Counter(parsed[e.id][0].status for e in examples)
        return {"answers": {s: counts.get(s, 0) for s in ANSWER_STATUSES}}

    predictions = {i: (a.target, c.text) for i, (a, c) in parsed.items()}
    return score_views(cfg.task, cfg.dataset, name, views, predictions, out, asked=cfg.views, extra=answers)


def run_info(cfg: LLMEvalConfig, backend, mode: str, parsed: dict, sentences: int, elapsed: float) -> dict:
    from fsa_distill.evaluation.llm_prompts import ANSWER_STATUSES

    counts = Counter(a.status for a, _ in parsed.values())
    tokens = [c.completion_tokens for _, c in parsed.values() if c.completion_tokens is not None]
    return {"kind": "llm-eval", "model": backend.teacher, "label": f"{backend.teacher} ({cfg.shots}-shot)",
            "seed": cfg.seed, "task": cfg.task, "dataset": cfg.dataset, "shots": cfg.shots, "mode": mode,
            "sentences": sentences, "answers": {s: counts.get(s, 0) for s in ANSWER_STATUSES},
            "finish_reasons": dict(Counter(str(c.finish_reason) for _, c in parsed.values())),
            "completion_tokens": sum(tokens) if tokens else None, "elapsed_s": elapsed,
            "timing": {"llm_s": elapsed}, "backend": backend.describe()}
