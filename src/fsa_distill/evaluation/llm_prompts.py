"""Prompts that ask an LLM for a polarity or for FSA pairs, and the parsers of its answers.

Two prompt families, each in a chat rendering (instruction-tuned models) and a plain completion
rendering (base models):

    polarity_prompt(text, mode)          zero-shot: is this text positive or negative?
    FsaPrompt(task, categories, ...)     llm-eval: the aspect terms (ATSA) or categories (ACSA) of a
                                         sentence with their polarities, zero- or k-shot

Every prompt carries `source` (the sentence) and `kind`, so the replay backend can answer it from
recordings in the corpus format ({"text", "kind", "raw_response"}).

The parsers never guess silently: each answer gets a status, and the commands count them.
Instructions go into the first user turn rather than a system message because some chat templates
(Gemma's among them) reject the system role.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

from fsa_distill.benchmark.data import POLARITIES
from fsa_distill.benchmark.targets import ITEM_SEP, PAIR_SEP, acsa_category
from fsa_distill.decoding.spans import find_spans
from fsa_distill.teacher.backends.base import RenderedPrompt

POLARITY_KIND = "zeroshot-polarity"

# ------------------------------------------------------------------------------ zero-shot polarity
POLARITY_CHAT = ("Is the sentiment of the following text positive or negative? "
                 "Answer with one word: positive or negative.\n\nText: {text}")
POLARITY_HEADER = "Decide whether the sentiment of each text is positive or negative."


def polarity_prompt(text: str, mode: str) -> RenderedPrompt:
    if mode == "chat":
        return RenderedPrompt.chat([{"role": "user", "content": POLARITY_CHAT.format(text=text.strip())}],
                                   kind=POLARITY_KIND, source=text)
    body = f"{POLARITY_HEADER}\n\nText: {text.strip()}\nSentiment:"
    # One word is wanted; a base model would go on with a new "Text:".
    return RenderedPrompt.completion(body, stop=("\n",), kind=POLARITY_KIND, source=text)


_POLARITY_WORD = re.compile(r"\b(positive|negative)\b", re.IGNORECASE)


def parse_polarity(answer: Optional[str]) -> Optional[str]:
    """'positive' | 'negative' | None (unparseable). The first polarity word decides: models put
    the verdict first and explain after ("Negative. The reviewer ... not positive")."""
    m = _POLARITY_WORD.search(answer or "")
    return m.group(1).lower() if m else None


# ----------------------------------------------------------------------------------- FSA prompts
ATSA_INSTRUCTION = (
    "Extract every aspect term of the sentence below and its sentiment polarity. An aspect term is a "
    "word or phrase of the sentence naming something the writer evaluates (a dish, the staff, the "
    "battery, the price). Copy each term exactly as it is written in the sentence. The polarity is one "
    "of: {polarities}.\n"
    "Answer on one line in the format `term | polarity ; term | polarity`, in the order the terms occur. "
    "If the sentence evaluates no aspect term, answer `none`.")
ACSA_INSTRUCTION = (
    "Identify every aspect category the sentence below evaluates and its sentiment polarity. Use only "
    "these categories: {categories}. The polarity is one of: {polarities}.\n"
    "Answer on one line in the format `category | polarity ; category | polarity`. If the sentence "
    "evaluates no category, answer `none`.")
NONE_ANSWER = "none"
FSA_STOP = ("\nSentence:", "\n\n")


def fsa_kind(task: str) -> str:
    return f"llm-eval-{task}"


@dataclass(frozen=True)
class FsaPrompt:
    """The prompt of one (task, label inventory, demonstrations). `shots` are (sentence, target
    string) pairs drawn from train; the same demonstrations precede every test sentence."""

    task: str
    polarities: tuple[str, ...]
    categories: tuple[str, ...] = ()
    shots: tuple[tuple[str, str], ...] = ()

    def instruction(self) -> str:
        pols = ", ".join(self.polarities)
        if self.task == "atsa":
            return ATSA_INSTRUCTION.format(polarities=pols)
        return ACSA_INSTRUCTION.format(categories=", ".join(self.categories), polarities=pols)

    def render(self, sentence: str, mode: str) -> RenderedPrompt:
        kw = dict(kind=fsa_kind(self.task), source=sentence)
        if mode == "chat":
            # Demonstrations as earlier turns: the model sees exactly what its answers look like.
            messages: list[dict] = []
            for i, (s, target) in enumerate(self.shots):
                user = f"Sentence: {s}" if i else f"{self.instruction()}\n\nSentence: {s}"
                messages += [{"role": "user", "content": user},
                             {"role": "assistant", "content": target or NONE_ANSWER}]
            last = f"Sentence: {sentence.strip()}"
            messages.append({"role": "user", "content": last if self.shots else f"{self.instruction()}\n\n{last}"})
            return RenderedPrompt.chat(messages, **kw)
        parts = [self.instruction().replace("the sentence below", "each sentence")]
        parts += [f"Sentence: {s}\nAnswer: {target or NONE_ANSWER}" for s, target in self.shots]
        parts.append(f"Sentence: {sentence.strip()}\nAnswer:")
        return RenderedPrompt.completion("\n\n".join(parts), stop=FSA_STOP, **kw)


# ----------------------------------------------------------------------------------- FSA answers
@dataclass(frozen=True)
class FsaAnswer:
    target: str          # reference target string built from the pairs ('' when none)
    pairs: tuple[tuple[str, str], ...]
    status: str          # ok | partial | none | unparseable | no_answer
    dropped: tuple[str, ...] = ()  # the chunks that could not be read


ANSWER_STATUSES = ("ok", "partial", "none", "unparseable", "no_answer")
_LEAD = re.compile(r"^\s*(?:answer|output|result|aspects?|pairs?)\s*:\s*", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_NONE = re.compile(r"^(?:none|no aspects?(?: terms?| categories)?|no categor(?:y|ies)|n/?a|nothing|\[\]|empty)\b\W*$",
                   re.IGNORECASE)
# `term | positive`, `term: positive`, `term - positive`, `term (positive)`, `term -> positive`;
# the polarity must end the chunk, so the separator is the one right before it.
_PAIR = re.compile(r"^(.*?)\s*(?:\||:|->|=>|–|—|-|\(|,)\s*(positive|negative|neutral|conflict)\s*\)?\s*\.?$",
                   re.IGNORECASE)
_QUOTES = "\"'`“”‘’*"


def _clean_term(term: str) -> str:
    term = term.strip()
    while len(term) >= 2 and term[0] in _QUOTES and term[-1] in _QUOTES:
        term = term[1:-1].strip()
    return term


def _ground(term: str, sentence: str) -> str:
    """LLMs re-case terms ("Food" for "food"); the reference matches case-sensitively, so take the
    sentence's own characters when the term occurs in it ignoring case. Nothing else is changed."""
    if not term or find_spans(term, sentence, "exact"):
        return term
    spans = find_spans(term, sentence, "ignore-case")
    return sentence[spans[0][0]:spans[0][1]] if spans else term


def parse_fsa_answer(task: str, answer: Optional[str], sentence: str) -> FsaAnswer:
    """Read an LLM's answer into the reference target string for `task`.

    Chunks are separated by ';' or new lines. ACSA categories are normalised the way the reference
    writes them (lower case, '#' -> ' '); ATSA terms are grounded to the sentence's casing. Terms
    that are not in the sentence are kept: the scorer drops them exactly as it drops a student's.
    """
    text = (answer or "").strip().strip("`").strip()
    if not text:
        return FsaAnswer("", (), "no_answer")
    text = _LEAD.sub("", text, count=1).strip()
    if _NONE.match(text):
        return FsaAnswer("", (), "none")
    pairs: list[tuple[str, str]] = []
    dropped: list[str] = []
    for chunk in re.split(r"[;\n]", text):
        chunk = _BULLET.sub("", chunk).strip()
        if not chunk:
            continue
        m = _PAIR.match(chunk)
        left = _clean_term(m.group(1)) if m else ""
        if not left:
            if not _NONE.match(chunk):
                dropped.append(chunk)
            continue
        left = _ground(left, sentence) if task == "atsa" else " ".join(acsa_category(left).split())
        pairs.append((left, m.group(2).lower()))
    target = ITEM_SEP.join(f"{a}{PAIR_SEP}{p}" for a, p in pairs)
    if not pairs:
        return FsaAnswer("", (), "unparseable", tuple(dropped))
    return FsaAnswer(target, tuple(pairs), "partial" if dropped else "ok", tuple(dropped))


def polarity_inventory(polarities: Sequence[str]) -> tuple[str, ...]:
    """The polarities a dataset uses, in the reference's order (ACSA has no `conflict`)."""
    present = set(polarities)
    return tuple(p for p in POLARITIES if p in present)
