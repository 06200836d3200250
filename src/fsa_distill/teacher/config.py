"""Typed config of the teacher stage (`fsa-distill generate`).

One YAML file = one corpus recipe; see configs/generate/*.yaml and docs/teacher.md. The backend
section is a tagged union on `type`, so a key that belongs to another backend is an error instead
of being silently ignored.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional, Union
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pydantic import Field, field_validator, model_validator

from fsa_distill.config import Renamed, StrictConfig
from fsa_distill.errors import FsaError

KINDS = ("analysis", "rewrite")
Kind = Literal["analysis", "rewrite"]


SECRET_KEYS = ("api_key", "key", "token", "password", "secret")


def _reject_inline_secret(data):
    # A key pasted into a YAML file ends up in git, in the saved run config and in logs. Raised as
    # FsaError, not ValueError: pydantic would quote the offending input, i.e. the secret.
    if isinstance(data, dict):
        for k in SECRET_KEYS:
            if k in data:
                raise FsaError(f"backend.{k}: do not put secrets in the config; export the key in an "
                               "environment variable and set backend.api_key_env to that variable's NAME")
    return data


ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Query parameters some servers take a key in; a URL is saved with the run and logged.
SECRET_QUERY_KEYS = {"key", "api_key", "apikey", "api-key", "token", "access_token", "password", "secret"}


def _looks_like_secret(name: str) -> bool:
    # Variable names are words (OPENAI_API_KEY, my_key); keys are long mixes of letters and
    # digits, usually with a vendor prefix (sk-..., hf_..., gsk_...).
    if name.lower().startswith(("sk-", "sk_", "hf_", "gsk_", "xai-", "pk-", "key-")):
        return True
    return len(name) >= 32 and any(c.isdigit() for c in name) and not name.isupper()


def check_env_name(name: str, field: str = "backend.api_key_env") -> str:
    """`name` must be an environment variable's NAME. A pasted key would be saved in config.yaml
    and summary.json and logged: refuse it without quoting it. FsaError, not ValueError, so that
    pydantic does not quote the input either."""
    if not ENV_NAME.fullmatch(name) or _looks_like_secret(name):
        raise FsaError(f"{field}: expected the NAME of an environment variable (like OPENAI_API_KEY), "
                       f"got a value of {len(name)} characters that is not one (a key? it is not repeated "
                       "here): export the key and set this to the variable's name")
    return name


def check_url_has_no_secret(url: str, field: str = "backend.base_url") -> str:
    """A URL is saved with the run and logged on every request: it must not carry credentials
    (user:password@ or a key in the query). The message never repeats them."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise FsaError(f"{field}: credentials in the URL (user:password@{parts.hostname or ''}) would be saved "
                       "with the run and logged; put the key in an environment variable named by "
                       "backend.api_key_env instead")
    keys = {k.lower() for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if keys & SECRET_QUERY_KEYS:
        raise FsaError(f"{field}: a secret in the URL's query ({', '.join(sorted(keys & SECRET_QUERY_KEYS))}=...) "
                       "would be saved with the run and logged; use backend.api_key_env instead")
    return url


def redact_url(url: str) -> str:
    """`url` without userinfo and query, for logs and run records (belt and braces: configs
    refuse such URLs already)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None and not parts.query:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class OpenAIBackendConfig(StrictConfig):
    """Any OpenAI-compatible server: vLLM, Ollama, llama.cpp server, TGI, hosted APIs."""

    type: Literal["openai"] = "openai"
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "default"
    # The NAME of the variable holding the key, never the key: this config is saved with the run.
    api_key_env: str = "OPENAI_API_KEY"
    mode: Literal["chat", "completion"] = "chat"
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(8, ge=0)
    backoff_base_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)
    requests_per_second: Optional[float] = Field(None, gt=0)
    teacher: Optional[str] = None  # id written into records; defaults to `model`

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        return check_env_name(v)

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_url_has_no_secret(v)

class TransformersBackendConfig(StrictConfig):
    """A local causal LM through Hugging Face transformers, generating in batches."""

    type: Literal["transformers"] = "transformers"
    model: str
    mode: Literal["auto", "chat", "completion"] = "auto"  # auto: chat if the tokenizer has a template
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    batch_size: int = Field(8, ge=1)
    teacher: Optional[str] = None


class LlamaCppBackendConfig(StrictConfig):
    """A local GGUF file through llama-cpp-python (extra `llm-local`)."""

    type: Literal["llama-cpp"] = "llama-cpp"
    model_path: str
    mode: Literal["chat", "completion"] = "completion"
    n_ctx: int = Field(4096, ge=256)
    n_threads: Optional[int] = Field(None, ge=1)
    n_gpu_layers: int = 0
    seed: int = 42
    teacher: Optional[str] = None


class ReplayBackendConfig(StrictConfig):
    """Answers from recorded responses (the shipped Mixtral sample by default); fully offline."""

    type: Literal["replay"] = "replay"
    # JSONL(.gz) in the reference format (Text, mixtral_response) or a corpus.jsonl of ours.
    recordings: Optional[str] = None
    teacher: str = "mistralai/Mixtral-8x7B-Instruct-v0.1 (recorded)"


BackendConfig = Annotated[
    Union[OpenAIBackendConfig, TransformersBackendConfig, LlamaCppBackendConfig, ReplayBackendConfig],
    Field(discriminator="type"),
]


class SampleConfig(StrictConfig):
    """Which reviews to keep after cleaning. `rating_weights` maps a star rating (rounded) to a
    relative chance of being picked, e.g. {1: 1, 2: 2, 3: 2, 4: 1, 5: 1} oversamples the
    mixed-sentiment middle as the paper does. A weight of 0 excludes that rating."""

    n: Optional[int] = Field(None, ge=1)
    seed: int = 12421
    rating_weights: Optional[dict[int, float]] = None
    unrated_weight: float = Field(1.0, ge=0)

    @field_validator("rating_weights")
    @classmethod
    def _non_negative(cls, v):
        if v is not None and any(w < 0 for w in v.values()):
            raise ValueError("weights must be >= 0")
        return v


class LeakGuardConfig(StrictConfig):
    enabled: bool = True
    splits: list[Literal["train", "dev", "test", "hard_test"]] = ["test", "hard_test"]
    # Short benchmark sentences ("It was worth the wait.", "I can't wait to come back.") occur in
    # many unrelated reviews; on the shipped sample 5 words flags two such reviews, 8 only the
    # review that really holds hard-test sentences.
    min_words: int = Field(8, ge=1)


class ReviewsConfig(StrictConfig):
    path: Optional[str] = None  # default: the 500 reviews shipped with the package
    format: Literal["auto", "jsonl", "csv", "parquet", "datasets"] = "auto"
    text_field: str = "Text"
    rating_field: Optional[str] = "Overall"
    domain_field: Optional[str] = None
    id_field: Optional[str] = "ID"
    default_domain: Optional[str] = None
    dedup: bool = True
    min_words: int = Field(3, ge=0)
    max_words: Optional[int] = Field(400, ge=1)
    sample: SampleConfig = SampleConfig()
    leak_guard: LeakGuardConfig = LeakGuardConfig()


class PromptsConfig(StrictConfig):
    analysis: str = "analysis-v1"
    rewrite: str = "rewrite-v1"
    few_shot: int = Field(2, ge=0, le=3)  # examples in the completion rendering


class GenerationConfig(StrictConfig):
    max_tokens: int = Field(768, ge=1)
    temperature: float = Field(0.7, ge=0)
    concurrency: int = Field(16, ge=1)


class PostprocessConfig(StrictConfig):
    # Checks that make a record ok=false; the others only add a flag.
    # Known checks: empty, truncated, error, wrong_language, foreign_fragment, unparsed,
    # partial_parse, target_not_in_review, wrong_format.
    drop: list[str] = ["empty", "truncated", "error", "wrong_language", "unparsed", "wrong_format"]


class GenerateConfig(StrictConfig):
    renamed = {"out": Renamed("output_dir")}

    output_dir: str = "runs/corpus"
    kinds: list[Kind] = list(KINDS)
    reviews: ReviewsConfig = ReviewsConfig()
    prompts: PromptsConfig = PromptsConfig()
    backend: BackendConfig = ReplayBackendConfig()
    generation: GenerationConfig = GenerationConfig()
    postprocess: PostprocessConfig = PostprocessConfig()

    @model_validator(mode="before")
    @classmethod
    def _backend_defaults(cls, data):
        backend = data.get("backend") if isinstance(data, dict) else None
        if isinstance(backend, dict):
            _reject_inline_secret(backend)
            if "type" not in backend:  # `backend.recordings=...` alone means the default, replay
                data = {**data, "backend": {"type": "replay", **backend}}
        return data

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, v):
        if not v:
            raise ValueError("at least one kind")
        return list(dict.fromkeys(v))
