"""An LLM as a system under test: the teacher's backends, driven by `llm-eval` and `zeroshot`.

What both commands share: the backend section of their configs (the teacher stage's own backend
configs, no secret inline), the command-line flags that fill it, the generation settings with
evaluation defaults, and the runner that sends the prompts in order with a progress bar.
"""

from __future__ import annotations

import re

from pydantic import Field

from fsa_distill.errors import FsaError
from fsa_distill.teacher.config import SECRET_KEYS, GenerationConfig

BACKEND_TYPES = ("replay", "openai", "transformers", "llama-cpp")


class LLMGeneration(GenerationConfig):
    """The teacher's generation settings with an evaluation's defaults: greedy (an evaluation
    should give the same answer twice), short answers, fewer requests at once."""

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
    """Flags -> nested config keys (None = not given: config.load_config keeps the file's value)."""
    return {"backend": {"type": args.backend, "base_url": args.base_url, "model_path": args.model_path,
                        "recordings": args.recordings, "mode": args.mode, "api_key_env": args.api_key_env,
                        "model": args.llm_model},
            "generation": {"max_tokens": args.max_tokens, "temperature": args.temperature,
                           "concurrency": args.concurrency}}


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
