"""The two teacher prompts, versioned.

The reference release contains no prompt text (docs/reference.md §5); these are written from
what its teacher (Mixtral) wrote (docs/reference.md §4f): analyses are blocks of `Opinion Target N` / `Aspect` /
`Sentiment` (graded: very negative ... very positive, mild when mixed) / `Reasoning`, rewrites are
first-person retellings that state feelings and per-aspect judgements explicitly.

A version is frozen once used: the version string is part of every record's resume key, so
changing a text under the same name would silently mix two prompts in one corpus. Add
"analysis-v2" instead.

Each kind has a chat rendering (instruction-tuned models) and a plain-completion few-shot
rendering (base models), whose examples are real teacher answers from the shipped sample, picked
by review ID and cleaned like any other answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from fsa_distill.errors import FsaError
from fsa_distill.resources import open_text, teacher_sample_path
from fsa_distill.teacher.backends.base import RenderedPrompt

SENTIMENT_SCALE = ("Very Negative", "Negative", "Mild Negative", "Neutral", "Mild Positive", "Positive",
                   "Very Positive")

SYSTEM = "You are an expert in fine-grained sentiment analysis of customer reviews."

ANALYSIS_V1 = """Analyze the sentiment of the review below in fine detail.

List every opinion target the reviewer evaluates: a product, a part or property of it, a dish, a \
person, the service, the price, the place. For each target give:
- Aspect: the aspect it concerns (for example Food Quality, Service, Price, Ambience, Battery Life, \
Display, Delivery).
- Sentiment: one of {scale}. Use a Mild label when the opinion is mixed, hedged or weak.
- Reasoning: one or two sentences naming the words that carry the sentiment. When the sentiment is \
implied rather than stated (for example "we waited 40 minutes for a table"), say that it is \
implied and explain what implies it.

Write one block per target, in exactly this format, blocks separated by a blank line, and nothing \
else:

Opinion Target 1: "<the target, in the review's words>"
Aspect: <aspect>
Sentiment: <sentiment>
Reasoning: <reasoning>

Review: {review}"""

REWRITE_V1 = """Rewrite the review below in the first person, as its author. State clearly and \
explicitly how you feel and what you think of each aspect you mention (for example the food, the \
service, the price, the battery, the screen), including judgements the original only implies. \
Keep every fact and opinion of the original and add no new ones. Write fluent prose of one or two \
paragraphs, with no title, notes or comments about the task.

Review: {review}"""

ANALYSIS_HEADER = ("Each customer review below is followed by a fine-grained sentiment analysis. The "
                   "analysis lists every opinion target with its aspect, its sentiment ({scale}; Mild "
                   "when mixed) and the reasoning, saying when a sentiment is implied rather than "
                   "stated.")
REWRITE_HEADER = ("Each customer review below is followed by a rewrite in the first person that states "
                  "the author's feelings and the judgement of each aspect clearly and explicitly, "
                  "keeping every fact and opinion of the original.")

SEPARATOR = "\n\n###\n\n"


@dataclass(frozen=True)
class PromptSpec:
    version: str
    kind: str
    chat_template: str
    header: str
    answer_label: str  # "Analysis:" / "Rewrite:" in the completion rendering
    example_ids: tuple[int, ...]  # review IDs in the shipped sample, in order of use

    def chat(self, review: str) -> RenderedPrompt:
        user = self.chat_template.format(review=review.strip(), scale=", ".join(SENTIMENT_SCALE))
        return RenderedPrompt.chat([{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
                                   kind=self.kind, source=review)

    def completion(self, review: str, few_shot: int = 2) -> RenderedPrompt:
        parts = [self.header.format(scale=", ".join(SENTIMENT_SCALE))]
        for text, answer in few_shot_examples(self.version)[:few_shot]:
            parts.append(f"Review: {text}\n{self.answer_label}\n{answer}")
        head = SEPARATOR.join(parts)
        text = f"{head}{SEPARATOR}Review: {review.strip()}\n{self.answer_label}\n"
        # A base model goes on to invent the next review; these stop it at the end of the answer.
        return RenderedPrompt.completion(text, stop=("\n###", "\nReview:"), kind=self.kind, source=review)

    def render(self, review: str, mode: str, few_shot: int = 2) -> RenderedPrompt:
        return self.chat(review) if mode == "chat" else self.completion(review, few_shot)


PROMPTS: dict[str, PromptSpec] = {
    "analysis-v1": PromptSpec("analysis-v1", "analysis", ANALYSIS_V1, ANALYSIS_HEADER, "Analysis:",
                              # mixed ratings, a neutral target, an implied judgement
                              (1691111, 3110176, 1686741)),
    "rewrite-v1": PromptSpec("rewrite-v1", "rewrite", REWRITE_V1, REWRITE_HEADER, "Rewrite:",
                             (109416, 3325399, 2672059)),
}


def get_prompt(version: str, kind: str | None = None) -> PromptSpec:
    spec = PROMPTS.get(version)
    if spec is None:
        raise FsaError(f"unknown prompt version {version!r} (known: {', '.join(sorted(PROMPTS))})")
    if kind is not None and spec.kind != kind:
        raise FsaError(f"prompt {version!r} is a {spec.kind} prompt, not {kind}")
    return spec


@lru_cache(maxsize=None)
def few_shot_examples(version: str) -> list[tuple[str, str]]:
    """(review, cleaned answer) pairs for a prompt version, from the shipped sample."""
    from fsa_distill.teacher.postprocess import clean_response

    spec = get_prompt(version)
    from fsa_distill.teacher.backends.replay import infer_kind

    by_id: dict[int, dict] = {}
    with open_text(teacher_sample_path()) as f:
        for line in f:
            rec = json.loads(line)
            if infer_kind(rec["mixtral_response"]) == spec.kind:  # one review may have both kinds
                by_id.setdefault(rec["ID"], rec)
    out = []
    for rid in spec.example_ids:
        if rid not in by_id:
            raise FsaError(f"prompt {version}: example review {rid} missing from {teacher_sample_path()}")
        rec = by_id[rid]
        out.append((rec["Text"].strip(), clean_response(rec["mixtral_response"], spec.kind)[0]))
    return out
