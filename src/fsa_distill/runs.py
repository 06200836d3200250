"""The run folder: one contract for every stage that writes one and everything that reads it back.

Every stage (generate, pretrain, finetune, evaluate, llm-eval, zeroshot) writes into its own
folder, and `report`, `run` and the committed results (pipeline/results.py) read those folders:

    config.yaml        the resolved config the stage ran with (`write_config`)
    run_info.json      what ran, as `RunInfo` below: kind, label, model, task, dataset, seed,
                       train fraction, timing by phase (seconds), environment, ...
    metrics.json       {view or method: scores}. Only scores: timing and skipped views are in
                       run_info.json. Written last and atomically, so a readable one means "finished"
    summary.json       the finished-marker of a generation or a pretraining (their "metrics")
    <curve>.json/.csv  a curve: dev F1 per epoch (`dev_curve`), loss per step (`loss_curve`)
    <model folder>/    README.md model card (`write_model_card`) and fsa_distill.json
                       (`models.folder.write_meta`, through `save_student` or on its own)

A stage is finished with a config when its done-file is there and reads as a JSON object (a write
killed half-way leaves no such file: done-files are written atomically, and a truncated one from
an older version does not count) and its config.yaml, read through the same config class (so a
renamed key still compares equal), equals that config.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, ValidationError

from fsa_distill.errors import FsaError

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
RUN_INFO_FILE = "run_info.json"
METRICS_FILE = "metrics.json"
SUMMARY_FILE = "summary.json"  # the done-file of a generation or a pretraining
# The file whose presence means "finished" (written last by each stage).
DONE_FILE = {"finetune": METRICS_FILE, "pretrain": SUMMARY_FILE, "generate": SUMMARY_FILE,
             "zeroshot": METRICS_FILE}
# What a finished run of each kind holds besides its config (the done-file last).
FINISHED_FILES = {"finetune": (RUN_INFO_FILE, METRICS_FILE), "pretrain": (SUMMARY_FILE,), "generate": (SUMMARY_FILE,),
                  "zeroshot": (RUN_INFO_FILE, METRICS_FILE)}
# The small files of a finished stage that are committed with the results (never weights).
RECORD_FILES = {
    "finetune": [CONFIG_FILE, RUN_INFO_FILE, METRICS_FILE, "dev_curve.json", "dev_curve.csv", "eval/metrics_*.json"],
    "pretrain": [CONFIG_FILE, SUMMARY_FILE, "loss_curve.json", "loss_curve.csv"],
    "generate": [CONFIG_FILE, SUMMARY_FILE],
    "zeroshot": [CONFIG_FILE, RUN_INFO_FILE, METRICS_FILE],
}


class RunInfo(BaseModel):
    """run_info.json: the keys `report` and `run` rely on are declared here; a stage may add more
    (they are kept as they are)."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    kind: str                                # finetune | llm-eval | zeroshot
    model: Optional[str] = None              # the model or LLM evaluated
    label: Optional[str] = None              # the system's name in reports (default: model)
    task: Optional[str] = None               # atsa | acsa | sentiment-classification
    dataset: Optional[str] = None
    seed: int = 0
    data_fraction: float = 1.0               # share of train used (fine-tuning)
    timing: dict[str, float] = {}            # seconds by phase
    unavailable_views: dict[str, str] = {}   # views asked for that the data cannot give, and why


# ----------------------------------------------------------------------------------- writing
def write_json(path: Path, obj: Any, atomic: bool = False) -> None:
    """`obj` as indented JSON; `atomic`: through a temporary file and a rename, so a reader never
    sees half a file (a finished-marker written while another process may look)."""
    path = Path(path)
    text = json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
    if not atomic:
        path.write_text(text, encoding="utf-8")
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_jsonl(path: Path, rows) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def write_config(cfg: BaseModel, run_dir: Path, atomic: bool = False) -> None:
    """config.yaml; `atomic`: through a temporary file and a rename (a folder another process
    may be resuming, as generation's)."""
    from fsa_distill.config import dump_config

    path = Path(run_dir) / CONFIG_FILE
    if not atomic:
        dump_config(cfg, path)
        return
    tmp = path.with_name(path.name + ".tmp")
    dump_config(cfg, tmp)
    os.replace(tmp, path)


def write_run_record(run_dir: Path, info: dict, metrics: dict) -> None:
    """run_info.json, then metrics.json last and atomically: from then on the run counts as finished."""
    try:  # a stage that breaks the schema fails here, not in `report`
        RunInfo.model_validate(info)
    except ValidationError as e:
        first = e.errors()[0]
        raise FsaError(f"{run_dir}: run_info: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    write_json(Path(run_dir) / RUN_INFO_FILE, info)
    write_json(Path(run_dir) / METRICS_FILE, metrics, atomic=True)


def write_curve(run_dir: Path, name: str, rows: list[dict], fields: list[str] | None = None) -> None:
    """`name`.json and `name`.csv (columns: `fields`, default the first row's keys)."""
    write_json(Path(run_dir) / f"{name}.json", rows)
    if rows or fields:
        with open(Path(run_dir) / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=fields or list(rows[0]))
            w.writeheader()
            w.writerows(rows)


def write_model_card(folder: Path, title: str, facts: list[str], intro: str = "", scores: dict | None = None,
                     front_matter: str = "", usage: str = "") -> None:
    """The README.md of a model folder: a title, what the model is, a list of facts, the scores
    by view (P/R/F1) and how to use it."""
    parts = [f"---\n{front_matter.strip()}\n---\n" if front_matter else "", f"# {title}\n"]
    if intro:
        parts.append(intro.strip() + "\n")
    parts.append("\n".join(f"- {f}" for f in facts) + "\n")
    if scores:
        rows = "\n".join(f"| {v} | {100 * s['precision']:.2f} | {100 * s['recall']:.2f} | {100 * s['f1']:.2f} |"
                         for v, s in scores.items())
        parts.append("Scores (reference micro-F1; `normal` = test + hard_test is comparable with the reference "
                     f"release):\n\n| view | P | R | F1 |\n|---|---|---|---|\n{rows}\n")
    if usage:
        parts.append(usage.strip() + "\n")
    (Path(folder) / "README.md").write_text("\n".join(p for p in parts if p), encoding="utf-8")


# ----------------------------------------------------------------------------------- reading
def read_json(path: Path, what: str = "run file"):
    """A run file, through the one bounded JSON reader (resources.read_json): size and nesting
    bounded, a syntax error one line naming the file (`what` says which record it is)."""
    from fsa_distill.resources import read_json as read_bounded_json

    try:
        return read_bounded_json(path)
    except FsaError as e:
        raise FsaError(f"{e} (the {what})") from None


def same_config(stored: Path, cfg: BaseModel) -> bool:
    """Does the config.yaml at `stored` hold `cfg`? Read through `cfg`'s class, so a file written
    before a key was renamed still compares equal; a file that no longer validates does not."""
    import yaml

    from fsa_distill.config import quiet_renames

    if not Path(stored).is_file():
        return False
    data = yaml.safe_load(Path(stored).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        return False
    try:
        with quiet_renames():
            previous = type(cfg).model_validate(data)
    except (ValidationError, FsaError):
        return False
    return previous.model_dump(mode="json") == cfg.model_dump(mode="json")


def readable_record(path: Path) -> bool:
    """Is `path` a JSON object, as a done-file must be? A file cut short (a killed write, a full
    disk) is not: it does not count as finished."""
    try:
        return isinstance(read_json(path), dict)
    except (FsaError, OSError):
        return False


def finished(run_dir: Path, cfg: BaseModel, kind: str, also: tuple[str, ...] = ()) -> bool:
    """Is a `kind` run with exactly this config finished in `run_dir`? Its files are there, its
    done-file reads (`readable_record`), and its config is `cfg`. `also`: other files the run must
    hold (e.g. its model folder)."""
    run_dir = Path(run_dir)
    files = (*FINISHED_FILES[kind], *also)
    return (all((run_dir / f).exists() for f in files) and readable_record(run_dir / DONE_FILE[kind])
            and same_config(run_dir / CONFIG_FILE, cfg))


def find_runs(roots) -> list[dict]:
    """Every finished run (run_info.json + metrics.json) under `roots`, as {dir, info, metrics};
    `info` is checked against `RunInfo` and returned as a dict with its defaults filled in."""
    runs = []
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise FsaError(f"{root}: no such run folder")
        for info_path in sorted(root.rglob(RUN_INFO_FILE)):
            metrics_path = info_path.parent / METRICS_FILE
            if not metrics_path.exists():
                continue  # unfinished
            if not readable_record(metrics_path):
                log.warning("%s: not a complete JSON object (a write cut short?): taken as unfinished", metrics_path)
                continue
            raw = read_json(info_path, "run_info.json")
            try:
                info = RunInfo.model_validate(raw).model_dump()
            except ValidationError as e:
                first = e.errors()[0]
                raise FsaError(f"{info_path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
            runs.append({"dir": str(info_path.parent), "info": info, "metrics": read_json(metrics_path, "metrics.json")})
    return runs
