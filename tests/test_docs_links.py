"""The README, the docs and the docstrings link only files inside the repository (a user who
clones it has nothing beside it)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")
DOC_PATH = re.compile(r"\bdocs/[\w./-]+\.md\b")


def markdown_files():
    return [ROOT / "README.md"] + sorted(p for p in (ROOT / "docs").glob("*.md"))


def test_markdown_links_resolve_inside_the_repository():
    broken = []
    for md in markdown_files():
        for target in LINK.findall(md.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            path = (md.parent / target.split("#")[0]).resolve()
            if not path.exists() or ROOT not in path.parents:
                broken.append(f"{md.relative_to(ROOT)}: {target}")
    assert broken == []


def test_nothing_points_outside_the_repository():
    texts = markdown_files() + sorted((ROOT / "src").rglob("*.py"))
    outside = [str(p.relative_to(ROOT)) for p in texts
               if re.search(r"\.\./shared|/work/shared|reference-system\.md", p.read_text(encoding="utf-8"))]
    assert outside == []


def test_docs_named_in_docstrings_exist():
    missing = sorted({f"{p.relative_to(ROOT)}: {m}" for p in (ROOT / "src").rglob("*.py")
                      for m in DOC_PATH.findall(p.read_text(encoding="utf-8")) if not (ROOT / m).exists()})
    assert missing == []


def test_examples_load_a_model_folder_not_a_run_folder():
    """`from_pretrained` and `predict -m` take a model folder (best_model/), a hub id or a preset; a
    run folder is refused, so no example may show one."""
    examples = re.compile(r"from_pretrained\(\"([^\"{]+)\"|predict -m (runs/\S+)")
    texts = markdown_files() + sorted((ROOT / "src").rglob("*.py"))
    bad = [f"{p.relative_to(ROOT)}: {a or b}" for p in texts for a, b in examples.findall(p.read_text(encoding="utf-8"))
           if (a or b).startswith("runs/") and not (a or b).rstrip("/").endswith(("best_model", "final_model"))]
    assert bad == []
