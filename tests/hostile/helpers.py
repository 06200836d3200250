"""What every hostile-input test asserts: exit 2, one line on stderr naming what and where, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fsa_distill.cli import main

SRC = Path(__file__).resolve().parents[2] / "src"


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc: int, err: str, *needles: str, max_chars: int = 400) -> str:
    """Exit 2 and exactly one `error:` line holding every needle; returns that line."""
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert rc == 2, (rc, err[-2000:])
    assert "Traceback" not in err, err[-2000:]
    assert len(lines) == 1, err[-2000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert len(lines[0]) <= max_chars, len(lines[0])
    return lines[0]


def run_cli(*argv, stdin=None, timeout=300, env_extra=None, shell_redirect: str = "") -> subprocess.CompletedProcess:
    """`python -m fsa_distill.cli ARGV` in a subprocess on this tree (shell_redirect, e.g. '<&-',
    runs it under bash with that redirection)."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONIOENCODING": "utf-8", **(env_extra or {})}
    cmd = [sys.executable, "-m", "fsa_distill.cli", *map(str, argv)]
    if shell_redirect:
        import shlex

        return subprocess.run(["bash", "-c", " ".join(map(shlex.quote, cmd)) + " " + shell_redirect],
                              capture_output=True, env=env, timeout=timeout)
    return subprocess.run(cmd, input=stdin, capture_output=True, env=env, timeout=timeout)
