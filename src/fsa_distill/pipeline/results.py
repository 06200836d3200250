"""Committed results: the small records of finished stages, kept beside the report in git.

An experiment may take longer than one sitting, and the next sitting may be on another machine
with an empty `runs/` folder. With `results_dir` set (e.g. `docs/results/{name}`), every stage
that finishes has its record copied to `results_dir/runs/<its folder under the run dir>/`:
configs, metrics, curves and summaries (runs.RECORD_FILES), never weights or predictions. On the next run:

* a fine-tuning whose record is there with the same config counts as finished ("committed") and
  is not redone; its record is copied back into the run folder so the report includes it;
* a pretraining (or generation) stage whose consumers are all finished is "not needed";
* a pretraining that some unfinished fine-tuning still needs must run again, because model
  weights are not committed. Its config is the same, so it lands in the same folder and the
  fine-tunings keep their folder names; on another CPU the rebuilt weights may differ in the
  last bits (no training run is bit-reproducible across machines).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from fsa_distill.runs import DONE_FILE, RECORD_FILES, finished


def record_dir(stage, root: Path, results: Path) -> Path:
    return results / "runs" / stage.out.relative_to(root)


def committed(stage, root: Path, results: Path) -> bool:
    """Is a finished record of this stage, with exactly its config, in the results folder?
    Only fine-tunings and zero-shot runs count: their record is all a report needs. Upstream stages are judged by
    their consumers (see plan)."""
    if stage.kind not in ("finetune", "zeroshot"):
        return False
    return finished(record_dir(stage, root, results), stage.config, stage.kind)


def _record_files(stage, folder: Path) -> list[Path]:
    files: list[Path] = []
    for pattern in RECORD_FILES[stage.kind]:
        files += sorted(p for p in folder.glob(pattern) if p.is_file())
    return files


def export(stage, root: Path, results: Path) -> bool:
    """Copy a finished stage's record into the results folder; False if it is not finished."""
    if not (stage.out / DONE_FILE[stage.kind]).is_file():
        return False
    dst = record_dir(stage, root, results)
    for f in _record_files(stage, stage.out):
        target = dst / f.relative_to(stage.out)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
    return True


def restore(stage, root: Path, results: Path) -> None:
    """Copy a committed record back into the run folder (the report reads run folders). Not for
    generation: a summary without its corpus would look like a finished corpus."""
    src = record_dir(stage, root, results)
    if stage.kind == "generate":
        return
    if (stage.out / DONE_FILE[stage.kind]).is_file() or not src.is_dir():
        return
    for f in _record_files(stage, src):
        target = stage.out / f.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)


def publish_report(report_dir: Path, results: Path) -> None:
    """The report's files (Markdown, CSV, LaTeX, JSON, PNG) at the top of the results folder."""
    results.mkdir(parents=True, exist_ok=True)
    for f in sorted(report_dir.iterdir()):
        if f.is_file() and f.suffix in (".md", ".csv", ".tex", ".json", ".png"):
            shutil.copyfile(f, results / f.name)
