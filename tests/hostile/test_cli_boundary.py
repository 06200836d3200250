"""The CLI boundary: FsaError -> one line and exit 2 (-v adds the traceback); environment
failures no check can rule out (disk full, a reader that left) named, not dumped."""

from __future__ import annotations

import errno

import pytest
from helpers import assert_one_line_error, run_cli

from fsa_distill import cli
from fsa_distill.errors import FsaError


@pytest.fixture
def command(monkeypatch):
    """`data stats` made to raise whatever the test sets."""
    import fsa_distill.data_import.commands as commands

    box = {}

    def fake(args):
        raise box["exc"]

    monkeypatch.setattr(commands, "run_stats", fake)
    return box


def test_fsa_error_is_one_line_and_verbose_adds_the_traceback(command, capsys):
    command["exc"] = FsaError("x.json: line 3: bad")
    rc = cli.main(["data", "stats"])
    assert_one_line_error(rc, capsys.readouterr().err, "error: x.json: line 3: bad")
    rc = cli.main(["-v", "data", "stats"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" in err and err.strip().endswith("error: x.json: line 3: bad")


def test_disk_full_names_the_cause_and_the_file(command, capsys):
    command["exc"] = OSError(errno.ENOSPC, "No space left on device", "runs/x/metrics.json")
    rc = cli.main(["data", "stats"])
    assert_one_line_error(rc, capsys.readouterr().err, "disk full writing runs/x/metrics.json")


def test_other_os_errors_are_bugs_and_keep_their_traceback(command):
    command["exc"] = OSError(errno.EBADF, "Bad file descriptor")
    with pytest.raises(OSError):
        cli.main(["data", "stats"])


def test_output_to_a_closed_pipe_exits_quietly():
    r = run_cli("data", "stats", shell_redirect="| head -c 10 >/dev/null")
    assert r.returncode == 0 and b"Traceback" not in r.stderr
