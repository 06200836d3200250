"""Test views (§3 "Test subsets").

`normal` is what the reference reports: test.json followed by hard_test.json. `implicit` and
`multi` (the reference's `mams`) are subsets of that union. `test` and `hard` alone are ours: the
reference never reports them separately.
"""

from __future__ import annotations

from pathlib import Path

from fsa_distill.benchmark.data import Example, load_split
from fsa_distill.errors import FsaError

VIEWS = ("normal", "test", "hard", "implicit", "multi")
ALIASES = {"mams": "multi"}


def canonical_view(view: str) -> str:
    view = ALIASES.get(view, view)
    if view not in VIEWS:
        raise FsaError(f"unknown view {view!r}: expected one of {', '.join(VIEWS)} (or mams)")
    return view


def is_implicit(ex: Example) -> bool:
    # Truthiness, as the reference: a missing key, null, "" or [] all mean "no opinion words".
    return any(not a.opinion_words for a in ex.aspects)


def is_multi(ex: Example) -> bool:
    return len(ex.polarities) > 1


def select_view(view: str, test: list[Example], hard: list[Example]) -> list[Example]:
    view = canonical_view(view)
    if view == "test":
        return list(test)
    if view == "hard":
        return list(hard)
    union = list(test) + list(hard)
    if view == "normal":
        return union
    if view == "implicit":
        return [e for e in union if is_implicit(e)]
    return [e for e in union if is_multi(e)]


def load_view(task: str, dataset: str, view: str, data_dir: str | Path | None = None) -> list[Example]:
    test = load_split(task, dataset, "test", data_dir)
    hard = load_split(task, dataset, "hard_test", data_dir)
    return select_view(view, test, hard)


def load_views(task: str, dataset: str, data_dir: str | Path | None = None) -> dict[str, list[Example]]:
    test = load_split(task, dataset, "test", data_dir)
    hard = load_split(task, dataset, "hard_test", data_dir)
    return {v: select_view(v, test, hard) for v in VIEWS}
