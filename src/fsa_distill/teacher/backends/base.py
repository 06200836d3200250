"""The one interface every teacher backend implements.

A backend turns a `RenderedPrompt` (chat messages or a plain completion string) into a
`Completion`. It knows nothing about reviews or corpora, so the zero-shot classifier and the LLM
evaluation reuse the same backends with their own prompts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal, Optional, Sequence

from fsa_distill.errors import FsaError

Mode = Literal["chat", "completion"]


@dataclass(frozen=True)
class RenderedPrompt:
    """Exactly one of `messages` (OpenAI-style [{"role", "content"}]) or `text` is set.

    `kind` and `source` are optional metadata: the replay backend answers by (source, kind), and
    completion prompts carry their own `stop` sequences (few-shot separators).
    """

    messages: Optional[tuple[dict, ...]] = None
    text: Optional[str] = None
    stop: tuple[str, ...] = ()
    kind: Optional[str] = None
    source: Optional[str] = None

    def __post_init__(self):
        if (self.messages is None) == (self.text is None):
            raise ValueError("RenderedPrompt needs exactly one of messages or text")
        if self.messages is not None:
            object.__setattr__(self, "messages", tuple(dict(m) for m in self.messages))

    @property
    def mode(self) -> Mode:
        return "chat" if self.messages is not None else "completion"

    @classmethod
    def chat(cls, messages: Sequence[dict], **kw) -> "RenderedPrompt":
        return cls(messages=tuple(messages), **kw)

    @classmethod
    def completion(cls, text: str, **kw) -> "RenderedPrompt":
        return cls(text=text, **kw)


@dataclass
class Completion:
    text: str
    # "stop" | "length" | "error" (the request was rejected, see `error`) | whatever the server says
    finish_reason: Optional[str]
    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None
    error: Optional[str] = None
    attempts: int = 1
    extra: dict = field(default_factory=dict)


class NoRecording(Exception):
    """The replay backend has no recorded answer for this prompt (not an error of the run)."""


class Backend:
    name: str = "backend"
    mode: Mode = "chat"
    teacher: str = ""  # model id written into corpus records; never a key or URL with secrets

    async def acomplete(self, prompt: RenderedPrompt, *, max_tokens: int, temperature: float,
                        stop: Optional[Sequence[str]] = None) -> Completion:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections or models; safe to call twice."""

    def describe(self) -> dict:
        return {"backend": self.name, "mode": self.mode, "teacher": self.teacher}

    def complete_many(self, prompts: Sequence[RenderedPrompt], concurrency: int = 8, *,
                      max_tokens: int = 256, temperature: float = 0.0,
                      stop: Optional[Sequence[str]] = None) -> list[Completion]:
        """Blocking helper for other stages: answers in the order of `prompts`.

        A prompt the replay backend has no recording for comes back as an empty Completion with
        finish_reason "no_recording" rather than failing the whole batch.
        """
        if concurrency < 1:
            raise FsaError("concurrency must be >= 1")

        async def run() -> list[Completion]:
            sem = asyncio.Semaphore(concurrency)

            async def one(p: RenderedPrompt) -> Completion:
                async with sem:
                    try:
                        return await self.acomplete(p, max_tokens=max_tokens, temperature=temperature,
                                                    stop=stop)
                    except NoRecording:
                        return Completion("", "no_recording", error="no recorded answer")

            try:
                return list(await asyncio.gather(*(one(p) for p in prompts)))
            finally:
                await self.aclose()

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(run())
        raise FsaError("complete_many() is blocking; inside an event loop await acomplete() instead")


def check_mode(backend: Backend, prompt: RenderedPrompt) -> None:
    if prompt.mode != backend.mode:
        raise FsaError(f"{backend.name} backend is in {backend.mode} mode but got a {prompt.mode} prompt; "
                       f"render the prompt for {backend.mode} or set backend.mode")
