"""Replay backend: answers from recorded teacher responses, offline and instantly.

It reads the reference format ({"Text", "mixtral_response"}; the kind is recognised from the
answer, analyses start with "Opinion Target 1:") or a corpus.jsonl of ours ({"text", "kind",
"raw_response"}), so any finished run can be replayed, e.g. to re-run post-processing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from fsa_distill.errors import FsaError
from fsa_distill.resources import iter_jsonl, teacher_sample_path
from fsa_distill.teacher.backends.base import Backend, Completion, NoRecording, RenderedPrompt
from fsa_distill.teacher.text import normalize_text


def infer_kind(response: str) -> str:
    return "analysis" if response.lstrip().startswith("Opinion Target") else "rewrite"


def load_recordings(path: Path) -> dict[tuple[str, str], str]:
    table: dict[tuple[str, str], str] = {}
    for lineno, rec in iter_jsonl(path):
        if "mixtral_response" in rec and "Text" in rec:
            text, response, kind = rec["Text"], rec["mixtral_response"], None
        elif "raw_response" in rec and "text" in rec:
            text, response, kind = rec["text"], rec["raw_response"], rec.get("kind")
        else:
            raise FsaError(f"{path}:{lineno}: expected Text+mixtral_response or text+raw_response")
        if not isinstance(text, str) or not isinstance(response, str):
            raise FsaError(f"{path}:{lineno}: text and response must be strings")
        # First recording wins, like the corpus itself.
        table.setdefault((normalize_text(text), kind or infer_kind(response)), response)
    return table


class ReplayBackend(Backend):
    name = "replay"
    mode = "chat"  # the rendering is ignored; only (review, kind) matters

    def __init__(self, cfg):
        self.path = Path(cfg.recordings) if cfg.recordings else teacher_sample_path()
        self.teacher = cfg.teacher
        self.table = load_recordings(self.path)

    def describe(self) -> dict:
        return {**super().describe(), "recordings": str(self.path), "n_recordings": len(self.table)}

    def has(self, text: str, kind: str) -> bool:
        return (normalize_text(text), kind) in self.table

    async def acomplete(self, prompt: RenderedPrompt, *, max_tokens: int, temperature: float,
                        stop: Optional[Sequence[str]] = None) -> Completion:
        if prompt.source is None or prompt.kind is None:
            raise NoRecording("replay needs prompts rendered from a review (source and kind)")
        response = self.table.get((normalize_text(prompt.source), prompt.kind))
        if response is None:
            raise NoRecording(f"no recorded {prompt.kind} for this review")
        # The recordings carry no token counts; None rather than a made-up number.
        return Completion(text=response, finish_reason="stop")
