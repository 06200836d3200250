"""One interface for a trained student, whatever its family: what `evaluate`, `predict`, `serve`,
`zeroshot` and fine-tuning's dev selection call.

    student = load("runs/.../best_model")            # a folder of either family, a preset, a hub id
    student.analyse(["The pasta was great but the waiter was rude."])
    # ['pasta | positive ; waiter | negative']        the reference's target strings
    student.save_pretrained("my-model")              # safetensors + tokenizer + fsa_distill.json

Two families:

    generative   a seq2seq model (T5, the `minilm` BERT2BERT, `tiny`) that writes the string;
                 decoded by transformers' generate or the CTranslate2 fast path, then grounded
                 where the model was evaluated with grounding
    extractive   an encoder with tagging heads (models/tagger.py) whose labels are turned into
                 the same string (decoding/tags.py); one forward pass, nothing to ground

**Decode settings live in one place**: the model folder's `fsa_distill.json` (`decode`, written
by fine-tuning), read here by `load`. A model is scored the way it answers: `evaluate` takes the
recorded settings and changes one only where a flag asks for it (`overrides`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from fsa_distill.decoding.generate import DecodeSettings
from fsa_distill.errors import FsaError

log = logging.getLogger(__name__)

FAMILIES = ("generative", "extractive")
DEFAULT_MAX_INPUT_LENGTH = 512


@dataclass
class Analysis:
    """What a student made of a list of sentences, in their order."""
    final: list[str]       # the target strings, as scored (grounded where grounding is on)
    raw: list[str]         # as the model wrote them (the same for the extractive family)
    truncated: list[bool]  # longer than the model's input limit: only its start was read


def decode_settings(meta: dict, overrides: dict | None = None) -> DecodeSettings:
    """The decode settings a model folder records (fine-tuning writes them), with `overrides`
    (None values ignored) on top; a folder that records none decodes as the reference."""
    known = DecodeSettings.model_fields
    recorded = {k: v for k, v in (meta.get("decode") or {}).items() if k in known}
    recorded.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return DecodeSettings(**recorded)


def input_limit(tokenizer, asked: int | None = None) -> int:
    limit = getattr(tokenizer, "model_max_length", None)
    return asked or (limit if limit and limit < 100_000 else DEFAULT_MAX_INPUT_LENGTH)


class Student:
    """A trained student: `analyse` sentences into target strings, `save_pretrained` it."""

    family = ""

    def __init__(self, model, tokenizer, *, task: str, meta: dict | None = None, source: str | None = None,
                 decode: DecodeSettings | None = None, max_input_length: int | None = None):
        from fsa_distill.benchmark.data import TASKS

        if task not in TASKS:
            raise FsaError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
        self.model, self.tokenizer, self.task = model, tokenizer, task
        self.meta = dict(meta or {})
        self.source = source
        self.decode = decode or decode_settings(self.meta)
        self.max_input_length = input_limit(tokenizer, max_input_length)
        self.fast, self.compute_type = None, None  # the generative family's CTranslate2 path
        # What fine-tuning put before every input (student/prefixes.py; "" for none): the model
        # reads it wherever it reads a sentence.
        self.input_prefix = self.meta.get("input_prefix") or ""
        if not isinstance(self.input_prefix, str):
            raise FsaError("input_prefix in the model's fsa_distill.json must be a string")
        warned = getattr(tokenizer, "deprecation_warnings", None)
        if isinstance(warned, dict):  # transformers' own "longer than ..." notice: we count truncation ourselves
            warned["sequence-length-is-longer-than-the-specified-maximum"] = True

    def analyse(self, sentences: Sequence[str], *, batch_size: int | None = None, progress: bool = False,
                desc: str = "analyse") -> list[str]:
        """The target string for each sentence (`term | polarity ; ...`), in order."""
        return self.analyse_detailed(sentences, batch_size=batch_size, progress=progress, desc=desc).final

    def analyse_detailed(self, sentences: Sequence[str], *, batch_size: int | None = None,
                         progress: bool = False, desc: str = "analyse") -> Analysis:
        """Final and raw strings and truncation flags. Blank sentences are not sent to the model:
        they get the empty string (no aspect)."""
        todo = [i for i, s in enumerate(sentences) if s.strip()]
        out = Analysis([""] * len(sentences), [""] * len(sentences), [False] * len(sentences))
        if todo:
            final, raw, truncated = self._run([sentences[i] for i in todo], batch_size or self.decode.batch_size,
                                              progress, desc)
            for i, f, r, t in zip(todo, final, raw, truncated):
                out.final[i], out.raw[i], out.truncated[i] = f, r, t
        return out

    def _run(self, sentences: list[str], batch_size: int, progress: bool, desc: str):
        raise NotImplementedError

    def card(self) -> dict:
        """What the model card says: family, task, dataset, scores, decode settings, base model."""
        keys = ("task", "dataset", "seed", "scores", "base_model", "teacher", "best_epoch", "dev_f1", "converged")
        return {"family": self.family, **{k: self.meta.get(k) for k in keys}, "decode": self.decode.model_dump()}

    def save_pretrained(self, out_dir: str | Path, meta: dict | None = None) -> None:
        """Weights (safetensors), tokenizer and fsa_distill.json (with family, task and decode)."""
        from fsa_distill.models import save_student

        record = {**self.meta, **(meta or {}), "family": self.family, "task": self.task,
                  "decode": self.decode.model_dump()}
        save_student(self.model, self.tokenizer, Path(out_dir), meta=record)

    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def _lengths(self, sentences: list[str]) -> list[int]:
        from fsa_distill.decoding.text import to_model_text

        return [len(ids) for ids in self.tokenizer([to_model_text(s) for s in sentences])["input_ids"]]


class GenerativeStudent(Student):
    """A seq2seq student. `fast`: decode with CTranslate2 (`compute_type` float32, int8 or int16)."""

    family = "generative"

    def __init__(self, model, tokenizer, *, fast: bool = False, compute_type: str | None = None,
                 device: str | None = None, **kw):
        super().__init__(model, tokenizer, **kw)
        from fsa_distill.inference.fast import check_compute_type

        self.compute_type = check_compute_type(fast, compute_type)
        if fast:
            from fsa_distill.inference.fast import CT2Generator

            self.fast = CT2Generator(model, tokenizer, self.source or "", device=(device or "cpu").split(":")[0],
                                     compute_type=self.compute_type)

    def _run(self, sentences, batch_size, progress, desc):
        from fsa_distill.decoding.generate import decode_sentences

        settings = self.decode.model_copy(update={"batch_size": batch_size})
        inputs = [self.input_prefix + s for s in sentences] if self.input_prefix else sentences
        raw = decode_sentences(self.model, self.tokenizer, inputs, settings, progress, desc=desc, fast=self.fast,
                               max_input_length=self.max_input_length)
        final = raw
        if settings.grounding:  # terms take the sentence's own characters (decoding/grounding.py)
            from fsa_distill.decoding.grounding import ground

            final = [ground(self.task, r, s) for r, s in zip(raw, sentences)]
        return final, raw, [n > self.max_input_length for n in self._lengths(inputs)]


class ExtractiveStudent(Student):
    """A tagger (models/tagger.py): token labels or category scores -> the same target strings."""

    family = "extractive"

    def _run(self, sentences, batch_size, progress, desc):
        import torch

        if self.input_prefix:
            raise FsaError("an extractive student reads the sentence itself (its terms are cut from it): "
                           "input prefixes are for generative students")
        from tqdm.auto import tqdm

        order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))  # less padding per batch
        final: list[str] = [""] * len(sentences)
        truncated = [False] * len(sentences)
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(), tqdm(total=len(sentences), desc=desc, disable=not progress, unit="sent") as bar:
                for start in range(0, len(order), batch_size):
                    idx = order[start:start + batch_size]
                    enc = self.tokenizer([sentences[i] for i in idx], padding=True, truncation=True,
                                         max_length=self.max_input_length, return_offsets_mapping=True,
                                         return_overflowing_tokens=False, return_length=False, return_tensors="pt")
                    lengths = [len(ids) for ids in self.tokenizer([sentences[i] for i in idx])["input_ids"]]
                    out = self.model(input_ids=enc["input_ids"].to(device),
                                     attention_mask=enc["attention_mask"].to(device))
                    for row, i in enumerate(idx):
                        final[i] = self._string(sentences[i], out, row, enc)
                        truncated[i] = lengths[row] > self.max_input_length
                    bar.update(len(idx))
        finally:
            self.model.train(was_training)
        return final, list(final), truncated

    def _string(self, sentence: str, out, row: int, enc) -> str:
        from fsa_distill.decoding import tags

        if self.task == "acsa":
            return tags.acsa_string(out["category_logits"][row].sigmoid().tolist(),
                                    out["category_polarity_logits"][row].sigmoid().tolist(),
                                    self.model.config.categories)
        mask = enc["attention_mask"][row].tolist()
        offsets = [tuple(o) if m else (0, 0) for o, m in zip(enc["offset_mapping"][row].tolist(), mask)]
        bio = out["bio_logits"][row].argmax(-1).tolist()
        pol = out["polarity_logits"][row].softmax(-1).tolist()
        return tags.atsa_string(sentence, tags.decode_spans(offsets, bio, pol))


def family_of(path: str | Path) -> str:
    from fsa_distill.models.tagger import is_tagger_folder

    return "extractive" if is_tagger_folder(path) else "generative"


def wrap(model, tokenizer, *, task: str, meta: dict | None = None, decode: DecodeSettings | None = None,
         source: str | None = None) -> Student:
    """A Student around a model already in memory (fine-tuning's dev selection)."""
    from fsa_distill.models.tagger import MODEL_TYPE

    cls = ExtractiveStudent if getattr(model.config, "model_type", None) == MODEL_TYPE else GenerativeStudent
    return cls(model, tokenizer, task=task, meta=meta, decode=decode, source=source)


def load(spec: str | Path, *, task: str | None = None, device: str | None = None, fast: bool = False,
         compute_type: str | None = None, max_input_length: int | None = None,
         overrides: dict | None = None) -> Student:
    """A trained student from a model folder of either family, a preset or a hub id. `task`
    defaults to the one the folder records (else atsa); `overrides` change recorded decode settings."""
    from fsa_distill.inference.fast import check_fast_settings
    from fsa_distill.models import PRESETS, default_device, read_meta, resolve_model

    spec = str(spec)
    check_fast_settings(fast, compute_type)  # a wrong setting or a missing extra fails before loading
    first = Path(spec).parts[0] if Path(spec).parts else ""
    if not Path(spec).exists() and spec not in PRESETS and first and Path(first).is_dir():
        # "runs/x" looks like a hub id too; asking the hub about it only delays the error
        raise FsaError(f"model {spec!r}: no such folder")
    if Path(spec).is_dir() and not (Path(spec) / "config.json").is_file():
        raise FsaError(f"model {spec!r}: not a model folder (no config.json)")
    device = device or default_device()
    path = resolve_model(spec)
    meta = read_meta(path) if Path(path).is_dir() else {}
    settings = decode_settings(meta, overrides)
    if family_of(path) == "extractive":
        return _load_extractive(spec, path, meta, settings, task, device, fast, max_input_length)
    model, tokenizer = _load_generative(spec, device)
    return GenerativeStudent(model, tokenizer, task=task or meta.get("task") or "atsa", meta=meta, source=path,
                             decode=settings, fast=fast, compute_type=compute_type, device=device,
                             max_input_length=max_input_length)


def _load_generative(spec: str, device: str):
    from fsa_distill.models import load_student

    try:
        return load_student(spec, device=device)
    except ValueError as e:  # transformers' answer to a folder with a broken or missing tokenizer
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise FsaError(f"model {spec!r}: could not load ({first})") from None


def _load_extractive(spec, path, meta, settings, task, device, fast, max_input_length) -> Student:
    from transformers import AutoTokenizer

    from fsa_distill.models.folder import check_weights
    from fsa_distill.models.tagger import load_tagger

    if fast:
        raise FsaError(f"model {spec!r}: --fast is the CTranslate2 path of generative students; an extractive "
                       "student (a tagger) answers in one encoder pass and has no fast path")
    check_weights(Path(path))
    try:
        model = load_tagger(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise FsaError(f"model {spec!r}: could not load ({first})") from None
    if model.config.task is None:
        raise FsaError(f"model {spec!r}: an extractive preset without a task head; fine-tune it first "
                       f"(fsa-distill finetune model={spec})")
    if task and task != model.config.task:
        raise FsaError(f"model {spec!r}: an extractive {model.config.task} student cannot answer {task} "
                       "(its heads are for one task)")
    model.to(device)
    return ExtractiveStudent(model, tokenizer, task=model.config.task, meta=meta, source=path, decode=settings,
                             max_input_length=max_input_length)
