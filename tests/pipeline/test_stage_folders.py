"""Every shipped experiment plans the same stage folders as before the one-house refactor.

A stage folder's name is a hash of its config: it is how committed results (docs/results/) and a
user's finished runs are found again. A rename of a config key, a moved module or a new default
must not change it. `stage_folders.json` was written from the code before the refactor
(`python tests/pipeline/test_stage_folders.py --write`); regenerate it only for a change that is
meant to move every folder, and say so in the change.
"""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("stage_folders.json")
PIPELINE_CONFIGS = sorted([*ROOT.glob("configs/*.yaml"), *ROOT.glob("configs/experiments/*.yaml"),
                           *ROOT.glob("configs/ablations/*.yaml"), *ROOT.glob("configs/paper/*.yaml")])


def planned_folders(path: Path) -> list[str]:
    from fsa_distill.config import load_config
    from fsa_distill.pipeline.config import PipelineConfig
    from fsa_distill.pipeline.run import plan

    cfg = load_config(PipelineConfig, path)
    return [f"{s.kind} {s.out.as_posix()}" for s in plan(cfg)]


def all_folders() -> dict[str, list[str]]:
    return {p.relative_to(ROOT).as_posix(): planned_folders(p) for p in PIPELINE_CONFIGS}


@pytest.mark.parametrize("path", PIPELINE_CONFIGS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_shipped_config_plans_the_same_folders(path, monkeypatch):
    monkeypatch.chdir(ROOT)  # folders are relative to the working directory, as for a user
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    name = path.relative_to(ROOT).as_posix()
    assert name in golden, f"{name}: a new shipped experiment; add it with --write"
    assert planned_folders(path) == golden[name]


def test_every_golden_config_still_ships():
    assert sorted(json.loads(GOLDEN.read_text(encoding="utf-8"))) == sorted(
        p.relative_to(ROOT).as_posix() for p in PIPELINE_CONFIGS)


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    import os

    os.chdir(ROOT)
    GOLDEN.write_text(json.dumps(all_folders(), indent=1) + "\n", encoding="utf-8")
