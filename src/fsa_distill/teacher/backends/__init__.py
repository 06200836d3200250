"""Teacher backends behind one interface (see base.py). `make_backend(cfg)` picks one by
`cfg.type`; heavy libraries are imported only by the backend that needs them."""

from __future__ import annotations

from fsa_distill.errors import FsaError
from fsa_distill.teacher.backends.base import Backend, Completion, NoRecording, RenderedPrompt

__all__ = ["Backend", "Completion", "NoRecording", "RenderedPrompt", "make_backend"]


def make_backend(cfg) -> Backend:
    """`cfg` is a backend config (teacher.config) or a GenerateConfig, whose `.backend` is used."""
    cfg = getattr(cfg, "backend", cfg)
    if cfg.type == "openai":
        from fsa_distill.teacher.backends.openai_api import OpenAIBackend

        return OpenAIBackend(cfg)
    if cfg.type == "replay":
        from fsa_distill.teacher.backends.replay import ReplayBackend

        return ReplayBackend(cfg)
    if cfg.type == "transformers":
        from fsa_distill.teacher.backends.local import TransformersBackend

        return TransformersBackend(cfg)
    if cfg.type == "llama-cpp":
        from fsa_distill.teacher.backends.local import LlamaCppBackend

        return LlamaCppBackend(cfg)
    raise FsaError(f"unknown backend type {cfg.type!r}")
