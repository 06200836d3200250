"""OpenAI-compatible HTTP backend: vLLM, Ollama, llama.cpp server, TGI, hosted APIs.

We turn the client's own retries off and retry here, because we also retry what the client
accepts as success (a 200 with a body that is not a completion) and want one backoff policy
(exponential with jitter, honouring Retry-After) plus a requests-per-second limit shared by all
concurrent requests.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from typing import Optional, Sequence

from fsa_distill.errors import FsaError
from fsa_distill.teacher.backends.base import Backend, Completion, RenderedPrompt, check_mode
from fsa_distill.teacher.config import redact_url

log = logging.getLogger(__name__)

# Statuses worth another try: overload, server errors, request timeouts, conflicts.
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
# Statuses that condemn this one prompt (too long, invalid) but not the run.
REJECT_STATUS = {400, 413, 422}


class MalformedResponse(Exception):
    """A 2xx answer without a usable completion in it."""


class RateLimiter:
    """Spaces request starts at least 1/rps apart across all tasks of one event loop."""

    def __init__(self, rps: Optional[float]):
        self.interval = 1.0 / rps if rps else 0.0
        self._next = 0.0
        self._lock: Optional[asyncio.Lock] = None

    async def wait(self) -> None:
        if not self.interval:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


def backoff_delay(attempt: int, base: float, cap: float, retry_after: Optional[float] = None) -> float:
    """Exponential backoff with 'equal jitter': at least half the step, so retries still spread
    out, never all at once (which would re-create the overload that caused a 429)."""
    step = min(cap, base * (2 ** attempt))
    delay = step / 2 + random.uniform(0, step / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


def _retry_after(err) -> Optional[float]:
    response = getattr(err, "response", None)
    try:
        value = response.headers.get("retry-after") if response is not None else None
        return float(value) if value is not None else None
    except (TypeError, ValueError, AttributeError):
        return None


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, cfg):
        self.cfg = cfg
        self.mode = cfg.mode
        self.teacher = cfg.teacher or cfg.model
        self.base_url = cfg.base_url.rstrip("/")  # what the client gets
        self.url_shown = redact_url(self.base_url)  # what logs, errors and run records get
        self._limiter = RateLimiter(cfg.requests_per_second)
        self._client = None
        self._loop = None

    def describe(self) -> dict:
        return {**super().describe(), "base_url": self.url_shown, "api_key_env": self.cfg.api_key_env}

    def _api_key(self) -> str:
        key = os.environ.get(self.cfg.api_key_env)
        if key:
            return key
        # Local servers (vLLM, llama.cpp, Ollama) ignore the key but the client insists on one.
        log.info("$%s is not set; sending a placeholder key (fine for a local server)", self.cfg.api_key_env)
        return "not-needed"

    def client(self):
        # An async HTTP client belongs to the event loop it was made in; complete_many() runs a
        # new loop per call, so make one client per loop.
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(base_url=self.base_url, api_key=self._api_key(),
                                       timeout=self.cfg.timeout_s, max_retries=0)
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client, self._loop = self._client, None, None
            try:
                await client.close()
            except RuntimeError:  # its loop is already gone; nothing left to release
                pass

    async def _request(self, prompt: RenderedPrompt, max_tokens: int, temperature: float,
                       stop: list[str]) -> Completion:
        client = self.client()
        common = dict(model=self.cfg.model, max_tokens=max_tokens, temperature=temperature,
                      stop=stop or None)
        if self.mode == "chat":
            resp = await client.chat.completions.create(messages=list(prompt.messages), **common)
        else:
            resp = await client.completions.create(prompt=prompt.text, **common)
        choices = getattr(resp, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise MalformedResponse(f"no choices in response: {str(resp)[:120]!r}")
        choice = choices[0]
        if self.mode == "chat":
            message = getattr(choice, "message", None)
            text = getattr(message, "content", None)
        else:
            text = getattr(choice, "text", None)
        if not isinstance(text, str):
            raise MalformedResponse(f"no text in choice: {str(choice)[:120]!r}")
        usage = getattr(resp, "usage", None)
        return Completion(text=text, finish_reason=getattr(choice, "finish_reason", None),
                          prompt_tokens=getattr(usage, "prompt_tokens", None),
                          completion_tokens=getattr(usage, "completion_tokens", None))

    async def acomplete(self, prompt: RenderedPrompt, *, max_tokens: int, temperature: float,
                        stop: Optional[Sequence[str]] = None) -> Completion:
        import openai

        check_mode(self, prompt)
        # Servers accept at most 4 stop sequences; the prompt's own separators come first.
        stops = list(dict.fromkeys([*prompt.stop, *(stop or ())]))[:4]
        last_err: Exception | None = None
        for attempt in range(self.cfg.max_retries + 1):
            await self._limiter.wait()
            retry_after = None
            try:
                out = await self._request(prompt, max_tokens, temperature, stops)
                out.attempts = attempt + 1
                return out
            except openai.APIStatusError as e:
                status = e.status_code
                if status in (401, 403):
                    raise FsaError(f"teacher at {self.url_shown} refused the key (HTTP {status}); "
                                   f"check ${self.cfg.api_key_env}") from None
                if status == 404:
                    raise FsaError(f"teacher at {self.url_shown}: HTTP 404 for model {self.cfg.model!r} "
                                   f"in {self.mode} mode (wrong base_url, model or mode?)") from None
                if status in REJECT_STATUS:
                    return Completion("", "error", error=f"HTTP {status}: {_short(e)}", attempts=attempt + 1)
                if status not in RETRY_STATUS and status < 500:
                    raise FsaError(f"teacher at {self.url_shown}: HTTP {status}: {_short(e)}") from None
                last_err, retry_after = e, _retry_after(e)
            except (openai.APITimeoutError, openai.APIConnectionError, openai.APIResponseValidationError,
                    MalformedResponse, ValueError) as e:
                # ValueError covers bodies that are not JSON at all.
                last_err = e
            if attempt < self.cfg.max_retries:
                delay = backoff_delay(attempt, self.cfg.backoff_base_s, self.cfg.backoff_max_s, retry_after)
                log.debug("retry %d after %.2fs: %s", attempt + 1, delay, _short(last_err))
                await asyncio.sleep(delay)
        if isinstance(last_err, openai.APITimeoutError):
            kind = f"timed out (timeout_s={self.cfg.timeout_s})"
        elif isinstance(last_err, openai.APIConnectionError):
            kind = "unreachable"
        else:
            kind = "kept failing"
        raise FsaError(f"teacher at {self.url_shown} {kind} after {self.cfg.max_retries + 1} attempts: "
                       f"{type(last_err).__name__}: {_short(last_err)}")


def _short(err) -> str:
    return " ".join(str(err).split())[:200]
