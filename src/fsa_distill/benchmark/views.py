"""Test views (docs/reference.md §3).

`normal` is what the reference reports: test.json followed by hard_test.json. `implicit` and
`multi` (the reference's `mams`) are subsets of that union. `test` and `hard` alone are ours: the
reference never reports them separately.

On other data two views may not exist. The reference's `implicit` keeps sentences with an aspect
whose `opinion_words` is falsy, so on a dataset without opinion words at all (anything imported
from SemEval XML, CSV or PyABSA) it would silently be every sentence: there it is *unavailable*
instead. `hard` is unavailable without a hard_test.json. `unavailable_views` says why; `load_views`
gives such a view no sentences, and `load_view` refuses it.
"""

from __future__ import annotations

from pathlib import Path

from fsa_distill.benchmark.data import Example, check_disjoint_ids, load_split
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


def unavailable_views(test: list[Example], hard: list[Example]) -> dict[str, str]:
    """{view: why it cannot be computed on this data} for the views that cannot."""
    out = {}
    if not hard:
        out["hard"] = "no hard_test.json"
    if not any(a.opinion_words for e in list(test) + list(hard) for a in e.aspects):
        out["implicit"] = "no opinion words in test or hard_test, which the view needs"
    return out


def _test_and_hard(task: str, dataset: str, data_dir) -> tuple[list[Example], list[Example]]:
    test = load_split(task, dataset, "test", data_dir)
    hard = load_split(task, dataset, "hard_test", data_dir)
    check_disjoint_ids(test, hard)
    return test, hard


def load_view(task: str, dataset: str, view: str, data_dir: str | Path | None = None) -> list[Example]:
    test, hard = _test_and_hard(task, dataset, data_dir)
    why = unavailable_views(test, hard).get(canonical_view(view))
    if why:
        raise FsaError(f"{task}/{dataset}: view {canonical_view(view)!r} is unavailable on this data: {why}")
    return select_view(view, test, hard)


def load_views_and_gaps(task: str, dataset: str, data_dir: str | Path | None = None
                        ) -> tuple[dict[str, list[Example]], dict[str, str]]:
    """(every view, {unavailable view: why}); an unavailable view has no sentences."""
    test, hard = _test_and_hard(task, dataset, data_dir)
    missing = unavailable_views(test, hard)
    return {v: [] if v in missing else select_view(v, test, hard) for v in VIEWS}, missing


def load_views(task: str, dataset: str, data_dir: str | Path | None = None) -> dict[str, list[Example]]:
    """Every view; an unavailable one (see `unavailable_views`) has no sentences."""
    return load_views_and_gaps(task, dataset, data_dir)[0]
