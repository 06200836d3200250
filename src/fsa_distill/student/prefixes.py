"""Task prefixes on the student's inputs (issue 23, H1 and H2).

The reference feeds the bare review (pretraining) and the bare sentence (fine-tuning), so the
decoder is never told which format to write. A prefix names the task on the input side:

    pretraining   `analyse: ` before a review whose target is an analysis, `rewrite: ` before one
                  whose target is a rewrite (PretrainData.task_prefix + prefixes)
    fine-tuning   `atsa: ` / `acsa: ` (setting "task"), or any literal text (setting "predict: ",
                  the distilling-step-by-step prefix of the multi-task recipe)

A prefix is part of what the model was trained to read, so it must be applied wherever the model
reads a sentence: the training pairs, dev selection, the test views, and every later `predict` /
`serve` (the model folder records it as `input_prefix` in fsa_distill.json). The empty setting
(the default) changes nothing: no input, no config hash, no stage folder moves.
"""

from __future__ import annotations

from collections.abc import Iterable

from fsa_distill.errors import FsaError

TASKS = ("atsa", "acsa")
TASK = "task"  # the setting that means "the task's own name": atsa: / acsa:
# The pretraining prefixes of issue 23's H1 (PretrainData.prefixes is {kind: text}).
PRETRAIN_PREFIXES = {"analysis": "analyse: ", "rewrite": "rewrite: "}
# The multi-task recipe's (Hsieh et al. 2023, google-research/distilling-step-by-step).
PREDICT, EXPLAIN = "predict: ", "explain: "
META_KEY = "input_prefix"  # in a model folder's fsa_distill.json


def task_prefix(task: str, setting: str) -> str:
    """The text put before every input of `task` for a `prefix` setting: "" -> none,
    "task" -> "atsa: " / "acsa: ", anything else is taken literally ("predict: ")."""
    if task not in TASKS:
        raise FsaError(f"task {task!r}: expected one of {', '.join(TASKS)}")
    if not setting:
        return ""
    if setting == TASK:
        return f"{task}: "
    if setting.strip() == "" or "\n" in setting:
        raise FsaError(f"prefix {setting!r}: must be text on one line (or empty for none)")
    return setting


def apply_prefix(texts: Iterable[str], prefix: str) -> list[str]:
    """`prefix + text` for every text (the list unchanged, as a copy, for "")."""
    return [prefix + t for t in texts] if prefix else list(texts)


def model_prefix(meta: dict | None) -> str:
    """The input prefix a model folder was trained with (fsa_distill.json), "" for none."""
    value = (meta or {}).get(META_KEY) or ""
    if not isinstance(value, str):
        raise FsaError(f"{META_KEY} in the model's fsa_distill.json must be a string (got {type(value).__name__})")
    return value


def check_prefix_supported(prefix: str, where: str) -> None:
    """Every stage that trains on task inputs applies the prefix (fine-tuning, the multi-task
    recipe, and the Student interface at inference): a prefix is refused only where it is not
    one line of text."""
    if prefix and (not prefix.strip() or "\n" in prefix):
        raise FsaError(f"{where}: prefix {prefix!r}: must be text on one line (or empty for none)")
