"""The public predict API: a trained model on new text.

    from fsa_distill import SentimentAnalyzer
    sa = SentimentAnalyzer.from_pretrained("runs/rest14/seed42")      # folder, hub id or preset
    sa.predict("The pasta was great but the waiter was rude.")
    # AnalysisResult(text=..., generated='pasta | positive ; waiter | negative',
    #                aspects=[AspectSentiment('pasta', 'positive', 4, 9, in_text=True),
    #                         AspectSentiment('waiter', 'negative', 28, 34, in_text=True)])

The model writes `aspect | polarity ; ...` (reference-system.md §2c). Here it is read for a
user, not for the scorer: chunks are split as the reference parser does; an ATSA term gets its
character span (exact match first, then case-insensitive); a term generated more often than the
text holds it collapses to one aspect per occurrence (a model that repeats itself does not make
two aspects with one span); a term that is nowhere in the text is flagged `in_text=False` and left
out of `aspects` unless `keep_absent=True`. The raw generated string is always kept in `generated`.
`fsa-distill score` keeps the strict reference parser. Empty texts are not sent to the model; they
come back as empty results.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from fsa_distill.benchmark.data import TASKS
from fsa_distill.benchmark.targets import parse_pairs
from fsa_distill.decoding.spans import find_spans
from fsa_distill.errors import FsaError

log = logging.getLogger(__name__)

DEFAULT_MAX_INPUT_LENGTH = 512


@dataclass
class AspectSentiment:
    aspect: str                 # the term (ATSA) or the category as the model writes it (ACSA)
    polarity: str               # positive | neutral | negative | conflict
    start: int | None = None    # character span of the term in the text (ATSA); None if absent
    end: int | None = None
    in_text: bool | None = None  # ATSA: whether the term occurs in the text; ACSA: None (a category)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class AnalysisResult:
    text: str
    generated: str              # the raw generated string
    aspects: list[AspectSentiment] = field(default_factory=list)
    truncated: bool = False     # the text was longer than the model's input limit

    def to_dict(self) -> dict:
        return {"text": self.text, "generated": self.generated,
                "aspects": [a.to_dict() for a in self.aspects], "truncated": self.truncated}


# ------------------------------------------------------------------------------ parsing, spans
def parse_generated(seq: str) -> list[tuple[str, str]]:
    """(aspect, polarity) pairs: the reference's chunk rules (one '|', known polarity) without its
    ATSA substring filter, which `locate_spans` replaces - i.e. the ACSA parser."""
    return [p for p in parse_pairs("acsa", seq, "") if p[0]]


def _pick(exact: list[tuple[int, int]], folded: list[tuple[int, int]],
          used: list[tuple[int, int]]) -> tuple[int, int] | None:
    # Prefer an occurrence no other term has claimed (so "rice" is not placed inside "fried
    # rice" when it also occurs alone), then one not claimed by an identical span, then any;
    # within each, an exact match before a case-insensitive one ("waiter" then "Waiter").
    def free(m):
        return all(m[1] <= s or m[0] >= e for s, e in used)

    for keep in (free, lambda m: m not in used, lambda m: True):
        for matches in (exact, folded):
            group = [m for m in matches if keep(m)]
            if group:
                return group[0]
    return None


def locate_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int] | None]:
    """Character span of each term in `text`: its first occurrence not used by another term, so a
    repeated term gets successive spans; exact match first, then case-insensitive; None if absent.
    When the text holds a term fewer times than asked, the extra ones reuse a span (which
    `to_result` then drops). Longer terms are placed first so that a short term does not take a
    spot inside a long one."""
    spans: list[tuple[int, int] | None] = [None] * len(terms)
    used: list[tuple[int, int]] = []
    for i in sorted(range(len(terms)), key=lambda i: -len(terms[i])):  # stable: repeats keep order
        span = _pick(find_spans(terms[i], text, "exact"), find_spans(terms[i], text, "ignore-case"), used)
        if span is not None:
            spans[i] = span
            used.append(span)
    return spans


def _inside(span: tuple[int, int], other: tuple[int, int]) -> bool:
    return other[0] <= span[0] and span[1] <= other[1]


def _clean_atsa(text: str, pairs: list[tuple[str, str]], keep_absent: bool) -> list[AspectSentiment]:
    """One aspect per place in the text, in generated order. Dropped, whatever its polarity: a
    repeat that `locate_spans` could only put on a span already given (the text holds the term
    fewer times than the model wrote it; the first one written wins), and a term found only
    inside a longer kept term ("wine" inside "wine list"). Absent terms: flagged, kept once each
    only if asked."""
    spans = locate_spans(text, [a for a, _ in pairs])
    kept: set[int] = set()
    # Longest first (as locate_spans places them), then in generated order.
    for i in sorted((i for i, s in enumerate(spans) if s), key=lambda i: (spans[i][0] - spans[i][1], i)):
        if not any(_inside(spans[i], spans[j]) for j in kept):
            kept.add(i)
    aspects, seen_absent = [], set()
    for i, ((term, polarity), span) in enumerate(zip(pairs, spans)):
        if span is None and keep_absent and term.lower() not in seen_absent:
            seen_absent.add(term.lower())
            aspects.append(AspectSentiment(term, polarity, None, None, in_text=False))
        elif i in kept:
            aspects.append(AspectSentiment(term, polarity, *span, in_text=True))
    return aspects


def _clean_acsa(pairs: list[tuple[str, str]]) -> list[AspectSentiment]:
    """Each (category, polarity) once. One category with two polarities stays two aspects: a
    sentence can praise one dish and pan another (both `food quality`)."""
    seen, aspects = set(), []
    for category, polarity in pairs:
        if (category.lower(), polarity) not in seen:
            seen.add((category.lower(), polarity))
            aspects.append(AspectSentiment(category, polarity))
    return aspects


def to_result(task: str, text: str, generated: str, truncated: bool = False,
              keep_absent: bool = False) -> AnalysisResult:
    pairs = parse_generated(generated)
    aspects = _clean_atsa(text, pairs, keep_absent) if task == "atsa" else _clean_acsa(pairs)
    return AnalysisResult(text, generated, aspects, truncated)


# ------------------------------------------------------------------------------------ analyzer
class SentimentAnalyzer:
    """A fine-tuned student ready to predict. Build it with `from_pretrained`."""

    def __init__(self, model, tokenizer, *, task: str = "atsa", meta: dict | None = None, source: str | None = None,
                 fast: bool = False, device: str | None = None, max_input_length: int | None = None,
                 keep_absent: bool = False, compute_type: str | None = None):
        if task not in TASKS:
            raise FsaError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
        self.model, self.tokenizer, self.task = model, tokenizer, task
        self.meta = dict(meta or {})
        self.source = source
        self.keep_absent = keep_absent  # keep ATSA terms that are not in the text (flagged in_text=False)
        decode = self.meta.get("decode") or {}
        # Decode as the model was evaluated (finetune records it), else as the reference: greedy, 100.
        self.max_length = int(decode.get("max_length") or 100)
        self.num_beams = int(decode.get("num_beams") or 1)
        # Students whose tokenizer loses case/spacing (minilm) were evaluated with span grounding.
        self.grounding = bool(decode.get("grounding"))
        from fsa_distill.decoding.generate import decode_cleanup

        self.clean_up = decode_cleanup(tokenizer, decode.get("clean_up_tokenization_spaces"))
        limit = getattr(tokenizer, "model_max_length", None)
        self.max_input_length = max_input_length or (limit if limit and limit < 100_000 else DEFAULT_MAX_INPUT_LENGTH)
        warned = getattr(tokenizer, "deprecation_warnings", None)
        if isinstance(warned, dict):  # transformers' own "sequence longer than ..." notice: we count and report truncation ourselves
            warned["sequence-length-is-longer-than-the-specified-maximum"] = True
        from fsa_distill.inference.fast import check_compute_type

        self.compute_type = check_compute_type(fast, compute_type)
        self._fast = None
        if fast:
            from fsa_distill.inference.fast import CT2Generator

            self._fast = CT2Generator(model, tokenizer, source or "", device=device or "cpu",
                                      compute_type=self.compute_type)

    @classmethod
    def from_pretrained(cls, path_or_id: str | Path, task: str | None = None, device: str | None = None,
                        fast: bool = False, max_input_length: int | None = None,
                        keep_absent: bool = False, compute_type: str | None = None) -> "SentimentAnalyzer":
        """Load a model folder written by `fsa-distill finetune` (or any seq2seq folder, hub id or
        student preset). `task` defaults to the one in the folder's fsa_distill.json, else atsa.
        `keep_absent`: keep generated ATSA terms that are not in the text (with `in_text=False`).
        `fast`: generate with CTranslate2; `compute_type` (with fast): float32, or int8/int16 to
        quantize (faster, some answers change)."""
        from fsa_distill.models import (
            PRESETS,
            default_device,
            load_student,
            read_meta,
            resolve_model,
        )

        spec = str(path_or_id)
        from fsa_distill.inference.fast import check_fast_settings

        check_fast_settings(fast, compute_type)  # a wrong setting or a missing extra fails before loading
        first = Path(spec).parts[0] if Path(spec).parts else ""
        if not Path(spec).exists() and spec not in PRESETS and first and Path(first).is_dir():
            # "runs/x" looks like a hub id too; asking the hub about it only delays the error
            raise FsaError(f"model {spec!r}: no such folder")
        if Path(spec).is_dir() and not (Path(spec) / "config.json").is_file():
            raise FsaError(f"model {spec!r}: not a model folder (no config.json)")
        device = device or default_device()
        try:
            model, tokenizer = load_student(spec, device=device)
        except ValueError as e:  # transformers' answer to a folder with a broken or missing tokenizer
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise FsaError(f"model {spec!r}: could not load ({first})") from None
        path = resolve_model(spec)
        meta = read_meta(path) if Path(path).is_dir() else {}
        return cls(model, tokenizer, task=task or meta.get("task") or "atsa", meta=meta, source=path,
                   fast=fast, device=device, max_input_length=max_input_length, keep_absent=keep_absent,
                   compute_type=compute_type)

    def save_pretrained(self, out_dir: str | Path) -> None:
        """Write the model, tokenizer and fsa_distill.json (with the task) and the model card if any."""
        from fsa_distill.models import save_student

        out_dir = Path(out_dir)
        save_student(self.model, self.tokenizer, out_dir, meta={**self.meta, "task": self.task})
        card = Path(self.source or "") / "README.md"
        if self.source and card.is_file() and card.resolve() != (out_dir / "README.md").resolve():
            shutil.copyfile(card, out_dir / "README.md")

    # -------------------------------------------------------------------------------- predict
    def predict(self, texts: str | Sequence[str], batch_size: int = 32,
                progress: bool = False) -> AnalysisResult | list[AnalysisResult]:
        """One result for a string, a list of results (in input order) for a list of strings."""
        if isinstance(texts, str):
            return self.predict([texts], batch_size=batch_size)[0]
        results = self._predict_chunk(list(texts), batch_size, progress)
        self._warn_truncated(sum(r.truncated for r in results))
        return results

    def predict_iter(self, texts: Iterable[str], batch_size: int = 32,
                     chunk_size: int = 1024) -> Iterator[AnalysisResult]:
        """Stream results for an iterable of any length, holding `chunk_size` texts at a time
        (length sorting happens within a chunk). One truncation warning at the end."""
        truncated, chunk = 0, []
        for text in texts:
            chunk.append(text)
            if len(chunk) >= chunk_size:
                for r in self._predict_chunk(chunk, batch_size, False):
                    truncated += r.truncated
                    yield r
                chunk = []
        for r in self._predict_chunk(chunk, batch_size, False):
            truncated += r.truncated
            yield r
        self._warn_truncated(truncated)

    def generate(self, texts: Sequence[str], batch_size: int = 32, progress: bool = False) -> list[str]:
        """Raw generated strings (texts must be non-empty), by the fast path if enabled."""
        if self._fast is not None:
            return self._fast.generate(texts, batch_size=batch_size, max_length=self.max_length,
                                       num_beams=self.num_beams, max_input_length=self.max_input_length,
                                       clean_up=self.clean_up)
        from fsa_distill.decoding.generate import generate

        return generate(self.model, self.tokenizer, texts, batch_size=batch_size, max_length=self.max_length,
                        num_beams=self.num_beams, clean_up=self.clean_up, max_input_length=self.max_input_length,
                        progress=progress, desc="predict")

    def _predict_chunk(self, texts: list[str], batch_size: int, progress: bool) -> list[AnalysisResult]:
        from fsa_distill.decoding.text import to_model_text

        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise FsaError(f"text {i}: expected a string (got {type(t).__name__})")
        todo = [i for i, t in enumerate(texts) if t.strip()]
        lengths = [len(ids) for ids in self.tokenizer([to_model_text(texts[i]) for i in todo])["input_ids"]] if todo else []
        generated = self.generate([texts[i] for i in todo], batch_size=batch_size, progress=progress) if todo else []
        results = [AnalysisResult(t, "") for t in texts]
        if self.grounding:
            from fsa_distill.decoding.grounding import ground

            generated = [ground(self.task, g, texts[i]) for i, g in zip(todo, generated)]
        for i, n, g in zip(todo, lengths, generated):
            results[i] = to_result(self.task, texts[i], g, truncated=n > self.max_input_length,
                                   keep_absent=self.keep_absent)
        return results

    def _warn_truncated(self, n: int) -> None:
        if n:
            log.warning("%d text(s) longer than %d tokens were truncated to fit the model", n, self.max_input_length)
