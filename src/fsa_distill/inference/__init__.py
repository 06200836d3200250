"""The public predict API: a trained model on new text.

    from fsa_distill import SentimentAnalyzer
    sa = SentimentAnalyzer.from_pretrained("runs/rest14/seed42/best_model")  # a model folder (not its run folder), hub id or preset
    sa.predict("The pasta was great but the waiter was rude.")
    # AnalysisResult(text=..., generated='pasta | positive ; waiter | negative',
    #                aspects=[AspectSentiment('pasta', 'positive', 4, 9, in_text=True),
    #                         AspectSentiment('waiter', 'negative', 28, 34, in_text=True)])

The model writes `aspect | polarity ; ...` (docs/reference.md, target strings). Here it is read for a
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

from fsa_distill.benchmark.targets import parse_pairs
from fsa_distill.decoding.spans import locate_spans, one_per_place
from fsa_distill.errors import FsaError
from fsa_distill.inference.student import Student
from fsa_distill.inference.student import load as load_student

log = logging.getLogger(__name__)


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


# ------------------------------------------------------------------------------ parsing, aspects
def parse_generated(seq: str) -> list[tuple[str, str]]:
    """(aspect, polarity) pairs: the reference's chunk rules (one '|', known polarity) without its
    ATSA substring filter, which span placement (decoding/spans.py `locate_spans`) replaces - i.e.
    the ACSA parser."""
    return [p for p in parse_pairs("acsa", seq, "") if p[0]]


def _clean_atsa(text: str, pairs: list[tuple[str, str]], keep_absent: bool) -> list[AspectSentiment]:
    """One aspect per place in the text, in generated order. Dropped, whatever its polarity: a
    repeat that `locate_spans` could only put on a span already given (the text holds the term
    fewer times than the model wrote it; the first one written wins), and a term found only
    inside a longer kept term ("wine" inside "wine list"). Absent terms: flagged, kept once each
    only if asked."""
    spans = locate_spans(text, [a for a, _ in pairs])
    kept = one_per_place(spans)
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
    """A fine-tuned student ready to predict, of either family (inference/student.py). Build it
    with `from_pretrained`; `predict` reads the student's target strings for a user."""

    def __init__(self, student: Student, *, keep_absent: bool = False):
        self.student = student
        self.keep_absent = keep_absent  # keep ATSA terms that are not in the text (flagged in_text=False)

    @classmethod
    def from_pretrained(cls, path_or_id: str | Path, task: str | None = None, device: str | None = None,
                        fast: bool = False, max_input_length: int | None = None,
                        keep_absent: bool = False, compute_type: str | None = None) -> "SentimentAnalyzer":
        """Load a model folder written by `fsa-distill finetune` (either family; or any seq2seq
        folder, hub id or student preset). `task` defaults to the one in the folder's
        fsa_distill.json, else atsa. `keep_absent`: keep generated ATSA terms that are not in the
        text (with `in_text=False`). `fast`: generate with CTranslate2 (generative students);
        `compute_type` (with fast): float32, or int8/int16 to quantize (faster, some answers change)."""
        student = load_student(path_or_id, task=task, device=device, fast=fast, compute_type=compute_type,
                               max_input_length=max_input_length)
        return cls(student, keep_absent=keep_absent)

    # What the student is and how it decodes, for callers and the server's /v1/model.
    model = property(lambda self: self.student.model)
    tokenizer = property(lambda self: self.student.tokenizer)
    task = property(lambda self: self.student.task)
    meta = property(lambda self: self.student.meta)
    source = property(lambda self: self.student.source)
    family = property(lambda self: self.student.family)
    compute_type = property(lambda self: self.student.compute_type)
    max_input_length = property(lambda self: self.student.max_input_length)
    grounding = property(lambda self: self.student.decode.grounding)
    max_length = property(lambda self: self.student.decode.max_length,
                          lambda self, v: self._set_decode(max_length=v))
    num_beams = property(lambda self: self.student.decode.num_beams,
                         lambda self, v: self._set_decode(num_beams=v))

    def _set_decode(self, **changes) -> None:
        self.student.decode = self.student.decode.model_copy(update=changes)

    def save_pretrained(self, out_dir: str | Path) -> None:
        """Write the model, tokenizer and fsa_distill.json (with the task) and the model card if any."""
        out_dir = Path(out_dir)
        self.student.save_pretrained(out_dir)
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
        """The student's raw strings (as generated, before grounding), by the fast path if enabled."""
        return self.student.analyse_detailed(list(texts), batch_size=batch_size, progress=progress,
                                             desc="predict").raw

    def _predict_chunk(self, texts: list[str], batch_size: int, progress: bool) -> list[AnalysisResult]:
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise FsaError(f"text {i}: expected a string (got {type(t).__name__})")
        done = self.student.analyse_detailed(texts, batch_size=batch_size, progress=progress, desc="predict")
        return [to_result(self.task, t, f, truncated=tr, keep_absent=self.keep_absent) if t.strip()
                else AnalysisResult(t, "") for t, f, tr in zip(texts, done.final, done.truncated)]

    def _warn_truncated(self, n: int) -> None:
        if n:
            log.warning("%d text(s) longer than %d tokens were truncated to fit the model", n, self.max_input_length)
