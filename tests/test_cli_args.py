"""Every command takes a YAML file and flags the same way (cli_args.py)."""

import json
import re

import pytest

from fsa_distill import cli, cli_args
from fsa_distill.errors import FsaError


def parsed(argv):
    parser = cli.build_parser()
    args = cli.parse(parser, argv)
    return cli_args.apply_options_file(args, lambda: cli.parse(parser, argv))


def test_every_command_takes_a_config_file():
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    commands = cli_args.leaf_parsers(sub)
    assert len(commands) >= 15
    for parser in commands:
        assert any("--config" in a.option_strings for a in parser._actions), parser.prog


def test_serve_config_is_filled_from_yaml_and_a_flag_wins(tmp_path):
    from fsa_distill.serving.commands import build_config

    f = tmp_path / "serve.yaml"
    f.write_text("model: tiny\nmax_batch: 7\nmax-wait-ms: 2.5\nkeep_absent: true\nmax_texts: 10\nport: 9001\n")
    args = parsed(["serve", "--config", str(f)])
    cfg = build_config(args)
    assert (cfg.model, cfg.max_batch, cfg.max_wait_ms, cfg.keep_absent, cfg.max_texts) == ("tiny", 7, 2.5, True, 10)
    assert args.port == 9001
    args = parsed(["serve", "--max-batch", "3", "--config", str(f), "-m", "other"])
    assert (build_config(args).max_batch, build_config(args).model) == (3, "other")


def test_a_flag_command_runs_from_its_file(tmp_path, capsys):
    f = tmp_path / "stats.yaml"
    f.write_text("task: atsa\ndataset: rest14\njson: true\n")
    assert cli.main(["data", "stats", "--config", str(f)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert json.dumps(out).count("rest14") >= 1 and "laptop14" not in json.dumps(out)


@pytest.mark.parametrize("text, message", [
    ("modle: tiny\n", "modle'?: unknown option"),
    ("model: tiny\nmax_batch: many\n", "max_batch: invalid value 'many'"),
    ("model: tiny\ntask: tsa\n", "task: 'tsa' is not one of atsa, acsa"),
    ("model: tiny\nkeep_absent: 1\n", "keep_absent: expected true or false"),
    ("- model\n", "expected a mapping"),
])
def test_a_bad_options_file_is_one_line_naming_the_key(tmp_path, capsys, text, message):
    f = tmp_path / "serve.yaml"
    f.write_text(text)
    assert cli.main(["serve", "--config", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {f}") and len(err.splitlines()) == 1
    assert re.search(message, err), err


def test_required_options_are_still_required(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        parsed(["serve"])
    assert e.value.code == 2
    assert "the following arguments are required: --model/-m" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parsed(["report"])
    assert "required: runs" in capsys.readouterr().err
    f = tmp_path / "report.yaml"
    f.write_text(f"runs: [{tmp_path}]\nbaseline: plain\n")
    args = parsed(["report", "--config", str(f)])
    assert (args.runs, args.baseline) == ([str(tmp_path)], "plain")


def test_a_stage_command_takes_its_config_as_positional_or_config(tmp_path):
    f = tmp_path / "ft.yaml"
    f.write_text("seed: 52\n")
    for argv in (["finetune", str(f), "train.epochs=2"], ["finetune", "--config", str(f), "train.epochs=2"],
                 ["finetune", "train.epochs=2", "--config", str(f)]):
        assert cli_args.split_config_args(parsed(argv)) == (str(f), ["train.epochs=2"]), argv
    with pytest.raises(FsaError, match="two config files"):
        cli_args.split_config_args(parsed(["finetune", str(f), "--config", str(tmp_path / "other.yaml")]))
    assert cli_args.split_config_args(parsed(["run", "--config", str(f)]))[0] == str(f)
