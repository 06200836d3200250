"""Hostile config files and overrides: folders, bad bytes, alias bombs, duplicate keys, inf/nan."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from fsa_distill import limits
from fsa_distill.config import load_config, read_yaml
from fsa_distill.errors import FsaError
from fsa_distill.student.finetune import FinetuneConfig
from helpers import SRC, assert_one_line_error, cli, run_cli

# 9 levels of 9 aliases: 9^9 = 387 million strings once expanded, in 350 bytes.
BOMB = textwrap.dedent("""\
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
    """)


def test_config_path_that_is_a_folder(tmp_path, capsys):
    rc, _, err = cli(capsys, "finetune", tmp_path)
    assert_one_line_error(rc, err, f"{tmp_path}: is a folder, not a config file")


def test_non_utf8_yaml_names_the_line(tmp_path, capsys):
    p = tmp_path / "c.yaml"
    p.write_bytes(b"task: atsa\ndataset: caf\xe9\n")
    rc, _, err = cli(capsys, "finetune", p)
    assert_one_line_error(rc, err, "c.yaml: line 2: not valid UTF-8 (byte 0xe9)")


def test_billion_laughs_is_refused_fast_in_bounded_memory_with_a_short_message(tmp_path):
    """The bomb referenced by a typed key made a 312 MB message; now: refused while loading, the
    message is short, and the whole process stays under 400 MB of peak RSS."""
    p = tmp_path / "bomb.yaml"
    p.write_text(BOMB + "views: *i\n")
    # VmHWM (peak RSS of this process image): unlike getrusage's ru_maxrss it is not inherited from
    # the forked pytest process, which holds torch.
    script = ("import sys\n"
              "from fsa_distill.cli import main\n"
              f"rc = main(['finetune', {str(p)!r}])\n"
              "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
              "print('maxrss_kb', hwm, file=sys.stderr)\n"
              "sys.exit(rc)\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(SRC)})
    err = r.stderr.decode()
    rss_kb = int(err.split("maxrss_kb")[1].split()[0])
    assert_one_line_error(r.returncode, err, "bomb.yaml: expands to more than", "FSA_DISTILL_MAX_YAML_NODES",
                          max_chars=300)
    assert rss_kb < 400 * 1024, f"peak RSS {rss_kb / 1024:.0f} MB"


def test_self_referencing_alias_and_deep_nesting(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("views: &v [*v]\n")
    with pytest.raises(FsaError, match=r"c\.yaml: line 1: an alias refers to itself"):
        load_config(FinetuneConfig, p)
    p.write_text("views: " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(FsaError, match=r"c\.yaml: .*nested (too deep|deeper than)"):
        load_config(FinetuneConfig, p)


def test_aliases_within_bounds_still_work(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train: &t {epochs: 3}\ndecode: {max_length: 50}\nviews: &v [test, hard]\n")
    cfg = load_config(FinetuneConfig, p)
    assert cfg.train.epochs == 3 and cfg.views == ["test", "hard"]
    p.write_text("x: &b {epochs: 3, batch_size: 8}\ntrain: {<<: *b, epochs: 5}\n")  # a merge key may be overridden
    assert read_yaml(p)["train"] == {"epochs": 5, "batch_size": 8}


def test_duplicate_key_names_file_and_line(tmp_path, capsys):
    p = tmp_path / "c.yaml"
    p.write_text("model: tiny\ntrain:\n  epochs: 2\nmodel: minilm\n")
    rc, _, err = cli(capsys, "finetune", p)
    assert_one_line_error(rc, err, "c.yaml: line 4: duplicate key 'model' (first on line 1)")
    p.write_text("train:\n  epochs: 2\n  epochs: 3\n")
    with pytest.raises(FsaError, match=r"line 3: duplicate key 'epochs'"):
        load_config(FinetuneConfig, p)


@pytest.mark.parametrize("override,message", [
    ("train.epochs=.inf", "not a finite number"), ("train.epochs=inf", "not a finite number"),
    ("train.max_grad_norm=nan", "not a finite number"),
    ("train.learning_rate=nan", "greater than 0"), ("train.epochs=-.inf", "greater than 0")])
def test_infinite_or_nan_overrides_are_one_line(override, message, capsys, tmp_path):
    """`train.epochs=.inf` was an OverflowError deep in training."""
    rc, _, err = cli(capsys, "finetune", f"output_dir={tmp_path / 'run'}", override)
    assert_one_line_error(rc, err, override.split("=")[0], message)
    assert not (tmp_path / "run").exists()


def test_config_file_over_the_size_limit(tmp_path, monkeypatch):
    p = tmp_path / "c.yaml"
    p.write_text("seed: 1\n" + "# padding\n" * 200)
    monkeypatch.setattr(limits, "MAX_CONFIG_BYTES", 1000)
    with pytest.raises(FsaError, match=r"c\.yaml: larger than 1000 bytes.*FSA_DISTILL_MAX_CONFIG_BYTES"):
        load_config(FinetuneConfig, p)


def test_a_huge_bad_value_is_not_echoed_whole(tmp_path, capsys):
    p = tmp_path / "c.yaml"
    p.write_text("task: " + "x" * 500_000 + "\n")
    rc, _, err = cli(capsys, "finetune", p)
    assert_one_line_error(rc, err, "c.yaml: task:", max_chars=400)


def test_limit_env_var_raises_a_limit(tmp_path):
    """FSA_DISTILL_<NAME> sets a limit (read at import): with MAX_YAML_NODES=7 a small config
    with aliases is refused."""
    p = tmp_path / "c.yaml"
    p.write_text("v: &v [test, hard]\nviews: [*v, *v]\n")
    r = run_cli("finetune", p, env_extra={"FSA_DISTILL_MAX_YAML_NODES": "7"})
    assert_one_line_error(r.returncode, r.stderr.decode(), "expands to more than 7 values")
