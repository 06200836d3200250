"""The server's settings (`fsa-distill serve` flags, or the same keys in `--config FILE`)."""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from fsa_distill.config import StrictConfig
from fsa_distill.limits import MAX_TEXT_CHARS

DEFAULT_MAX_TEXTS = 64
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_NUMBER_DIGITS = 100  # no field takes a number; int() of 4,300+ digits raises a plain ValueError


class ServeConfig(StrictConfig):
    model: str
    model_id: Optional[str] = None          # default: derived from the model card, else the folder name
    task: Optional[str] = None
    device: Optional[str] = None
    fast: bool = False
    compute_type: Optional[str] = None      # with fast: float32 (default) or a quantized CTranslate2 type
    keep_absent: bool = False
    max_batch: int = Field(32, ge=1, le=4096)
    max_wait_ms: float = Field(5.0, ge=0, le=60_000)
    batch_size: int = Field(32, ge=1, le=4096)  # generation batch inside one call (memory bound)
    max_texts: int = Field(DEFAULT_MAX_TEXTS, ge=1)
    max_text_chars: int = Field(MAX_TEXT_CHARS, ge=1)
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=64)
