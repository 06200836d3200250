"""Helpers shared by the teacher tests (imported by name: tests/ has no packages)."""

import json
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def cli_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "fsa_distill.cli", *args]


def read_corpus(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
