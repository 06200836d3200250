"""Local teachers: a causal LM through transformers (batched) or a GGUF file through llama.cpp.

Both keep the async interface of the HTTP backend. Generation runs in a worker thread so the event
loop stays free; the transformers backend gathers concurrent requests into one `generate` batch.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Optional, Sequence

from fsa_distill.errors import FsaError
from fsa_distill.teacher.backends.base import Backend, Completion, RenderedPrompt

log = logging.getLogger(__name__)


def _cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class TransformersBackend(Backend):
    name = "transformers"

    def __init__(self, cfg):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.cfg = cfg
        self.teacher = cfg.teacher or cfg.model
        device = cfg.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = cfg.dtype
        if dtype == "auto":
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(cfg.model)
            self.model = AutoModelForCausalLM.from_pretrained(cfg.model, dtype=getattr(torch, dtype))
        except OSError as e:
            raise FsaError(f"transformers backend: cannot load {cfg.model!r}: {str(e).splitlines()[0]}") from None
        self.model.to(device).eval()
        self.device = device
        # Decoder-only batches must be padded on the left so every row continues its own prompt.
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        self.mode = cfg.mode if cfg.mode != "auto" else ("chat" if has_template else "completion")
        if self.mode == "chat" and not has_template:
            raise FsaError(f"transformers backend: {cfg.model!r} has no chat template; use mode: completion")
        self._queue: Optional[asyncio.Queue] = None
        self._worker: Optional[asyncio.Task] = None

    def _render(self, prompt: RenderedPrompt) -> str:
        if prompt.mode == "chat":
            if self.mode != "chat":
                raise FsaError(f"transformers backend: {self.cfg.model!r} is used in completion mode "
                               "but got chat messages")
            return self.tokenizer.apply_chat_template(list(prompt.messages), tokenize=False,
                                                      add_generation_prompt=True)
        return prompt.text

    def generate_batch(self, prompts: list[RenderedPrompt], max_tokens: int, temperature: float,
                       stop: Sequence[str]) -> list[Completion]:
        import torch

        texts = [self._render(p) for p in prompts]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True).to(self.device)
        kwargs = dict(max_new_tokens=max_tokens, pad_token_id=self.tokenizer.pad_token_id)
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature)
        else:
            kwargs.update(do_sample=False)
        with torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        new = out[:, enc["input_ids"].shape[1]:]
        results = []
        for i, p in enumerate(prompts):
            ids = new[i].tolist()
            eos = self.tokenizer.eos_token_id
            hit_eos = eos is not None and eos in ids
            if hit_eos:
                ids = ids[: ids.index(eos)]
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            text, hit_stop = _cut_at_stop(text, [*p.stop, *stop])
            n_prompt = int(enc["attention_mask"][i].sum())
            results.append(Completion(text=text, finish_reason="stop" if (hit_eos or hit_stop) else "length",
                                      prompt_tokens=n_prompt, completion_tokens=len(ids)))
        return results

    async def _run_worker(self) -> None:
        # Requests that arrive while a batch is generating form the next batch.
        queue = self._queue
        while True:
            first = await queue.get()
            batch = [first]
            await asyncio.sleep(0.005)
            while len(batch) < self.cfg.batch_size and not queue.empty():
                batch.append(queue.get_nowait())
            groups: dict[tuple, list] = {}
            for item in batch:  # one generate() call per distinct set of generation params
                groups.setdefault(item[1], []).append(item)
            for params, items in groups.items():
                try:
                    outs = await asyncio.to_thread(self.generate_batch, [it[0] for it in items], *params)
                except Exception as e:  # hand the error to every waiting request
                    for it in items:
                        if not it[2].done():
                            it[2].set_exception(e)
                    continue
                for it, o in zip(items, outs):
                    if not it[2].done():
                        it[2].set_result(o)

    async def acomplete(self, prompt: RenderedPrompt, *, max_tokens: int, temperature: float,
                        stop: Optional[Sequence[str]] = None) -> Completion:
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.get_loop() is not loop or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._run_worker())
        fut = loop.create_future()
        await self._queue.put((prompt, (max_tokens, temperature, tuple(stop or ())), fut))
        return await fut

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, RuntimeError):
                pass
            self._worker = None


class LlamaCppBackend(Backend):
    name = "llama-cpp"

    def __init__(self, cfg):
        try:
            from llama_cpp import Llama
        except ImportError:
            raise FsaError("the llama-cpp backend needs llama-cpp-python: "
                           "pip install 'fsa-distill[llm-local]' (or pip install llama-cpp-python)") from None
        path = Path(cfg.model_path).expanduser()
        if not path.is_file():
            raise FsaError(f"{path}: GGUF model file not found")
        self.cfg = cfg
        self.mode = cfg.mode
        self.teacher = cfg.teacher or path.name
        self.llm = Llama(model_path=str(path), n_ctx=cfg.n_ctx, n_threads=cfg.n_threads,
                         n_gpu_layers=cfg.n_gpu_layers, seed=cfg.seed, verbose=False)
        self._lock: Optional[asyncio.Lock] = None
        self._lock_loop = None

    def _generate(self, prompt: RenderedPrompt, max_tokens: int, temperature: float,
                  stop: list[str]) -> Completion:
        kwargs = dict(max_tokens=max_tokens, temperature=temperature, stop=stop or None)
        if prompt.mode == "chat":
            if self.mode != "chat":
                raise FsaError("llama-cpp backend is in completion mode but got chat messages")
            out = self.llm.create_chat_completion(messages=list(prompt.messages), **kwargs)
            text = out["choices"][0]["message"]["content"] or ""
        else:
            out = self.llm.create_completion(prompt=prompt.text, **kwargs)
            text = out["choices"][0]["text"]
        usage = out.get("usage") or {}
        return Completion(text=text, finish_reason=out["choices"][0].get("finish_reason"),
                          prompt_tokens=usage.get("prompt_tokens"),
                          completion_tokens=usage.get("completion_tokens"))

    async def acomplete(self, prompt: RenderedPrompt, *, max_tokens: int, temperature: float,
                        stop: Optional[Sequence[str]] = None) -> Completion:
        # One llama.cpp context serves one request at a time; the lock keeps the threads in line.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        stops = list(dict.fromkeys([*prompt.stop, *(stop or ())]))
        async with self._lock:
            return await asyncio.to_thread(self._generate, prompt, max_tokens, temperature, stops)
