"""The command-line conventions every command shares: a YAML file and flags, the same way.

* The stage commands with a typed config (generate, pretrain, finetune, llm-eval, zeroshot, run)
  take the config file as their first positional (or `--config FILE`), then their own flags,
  then `key=value` overrides (config.load_config: file, then flags, then key=value).
* Every other command (data stats/import/export, score, evaluate, report, predict, serve,
  build-student) takes `--config FILE`: a YAML mapping of its options by their long names
  (`max_batch: 16` or `max-batch: 16` for `--max-batch 16`; positionals by their name, e.g.
  `texts:` for predict), read by the hardened loader (yaml_file.py). A flag given on the command
  line wins over the file. An unknown key or a wrong value is one line naming the file and key.
* `--quiet` turns progress bars off.

`install(parser)` (called by cli.build_parser) gives every command its `--config`;
`apply_options_file` runs after parsing (cli.main).
"""

from __future__ import annotations

import argparse
from fsa_distill.errors import FsaError
from fsa_distill.limits import echo

OPTIONS_FILE = "options_file"   # dest of `--config FILE` on a flag-style command
RECIPE_FILE = "config_file"     # dest of `--config FILE` on a command with a typed config


def add_config_args(parser, example: str = "", override_example: str = "train.epochs=3") -> None:
    """The positionals every stage command takes: an optional recipe, then key=value overrides."""
    parser.add_argument("config", nargs="?",
                        help=f"YAML recipe{', e.g. ' + example if example else ' (optional: defaults are built in)'}")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help=f"override config keys, e.g. {override_example}")


def add_progress_flag(parser) -> None:
    """The one progress switch of every command (`--no-progress` is its old spelling)."""
    parser.add_argument("--quiet", dest="quiet", action="store_true", help="no progress bars (logs, CI)")
    parser.add_argument("--no-progress", dest="quiet", action="store_true", help=argparse.SUPPRESS)


def split_config_args(args) -> tuple[str | None, list[str]]:
    """(config file, overrides). argparse cannot tell `CMD key=value` from `CMD CONFIG`: a first
    positional with '=' (and not a .yaml name) is an override. `--config FILE` names the file too."""
    config, overrides = args.config, list(args.overrides)
    if config is not None and "=" in config and not config.endswith((".yaml", ".yml")):
        overrides.insert(0, config)
        config = None
    given = getattr(args, RECIPE_FILE, None)
    if given is not None:
        if config is not None and config != given:
            raise FsaError(f"two config files ({echo(config)} and --config {echo(given)}): give one")
        config = given
    return config, overrides


# ---------------------------------------------------------------------------- --config FILE
def leaf_parsers(sub) -> list[argparse.ArgumentParser]:
    """Every command's parser under a subparsers action (`data import` included)."""
    out = []
    for parser in dict.fromkeys(sub.choices.values()):
        inner = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        out += leaf_parsers(inner[0]) if inner else [parser]
    return out


def _has_recipe(parser) -> bool:
    return any(a.dest == "config" and not a.option_strings for a in parser._actions)


def install(parser: argparse.ArgumentParser) -> None:
    """Give one command its `--config FILE`. On a flag-style command, options argparse would
    require are required after the file is read instead (the file may give them)."""
    if _has_recipe(parser):
        parser.add_argument("--config", dest=RECIPE_FILE, metavar="FILE",
                            help="the YAML config (the same as the first positional)")
        for a in parser._actions:  # `run CONFIG`: the positional may now be given as --config
            if a.dest == "config" and not a.option_strings and a.nargs is None:
                a.nargs, a.required = "?", False
                parser.set_defaults(_parser=parser, _required=["config"])
        return
    parser.add_argument("--config", dest=OPTIONS_FILE, metavar="FILE",
                        help="YAML file of this command's options by their long names (max_batch: 16); "
                             "a flag on the command line wins")
    required = []
    for a in parser._actions:
        if not a.option_strings and a.nargs == "*":
            continue  # argparse marks these required, yet takes none of them
        if a.required or not a.option_strings and a.nargs == "+":
            a.nargs = "*" if a.nargs == "+" else a.nargs
            a.required = False
            required.append(a.dest)
            if a.help != argparse.SUPPRESS:
                a.help = f"{a.help + ' ' if a.help else ''}(required: here or in the --config file)"
    parser.set_defaults(_parser=parser, _required=required)


def _option(parser, key: str, path) -> argparse.Action:
    dest = key.replace("-", "_")
    for a in parser._actions:
        if a.dest == dest and dest not in ("help", OPTIONS_FILE) and not isinstance(a, argparse._VersionAction):
            return a
    names = sorted({a.option_strings[-1].lstrip("-") if a.option_strings else a.dest for a in parser._actions
                    if a.dest not in ("help", OPTIONS_FILE) and a.help != argparse.SUPPRESS})
    raise FsaError(f"{path}: {echo(key)}: unknown option (options: {', '.join(names)})")


def _value(action: argparse.Action, value, where: str):
    """A file's value for one option, checked as argparse checks a flag's."""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise FsaError(f"{where}: expected true or false (got {echo(value)})")
        return value
    many = action.nargs in ("*", "+") or isinstance(action.nargs, int)
    items = value if many and isinstance(value, list) else [value] if many else None
    if items is None and isinstance(value, (list, dict)):
        raise FsaError(f"{where}: expected one value (got {echo(value)})")
    out = []
    for v in items if items is not None else [value]:
        if isinstance(v, (list, dict)) or v is None:
            raise FsaError(f"{where}: expected a value (got {echo(v)})")
        if action.type is not None:
            try:
                v = action.type(v if isinstance(v, str) else str(v))
            except (TypeError, ValueError, argparse.ArgumentTypeError):
                raise FsaError(f"{where}: invalid value {echo(v)}") from None
        elif not isinstance(v, str):
            v = str(v)
        if action.choices is not None and v not in action.choices:
            raise FsaError(f"{where}: {echo(v)} is not one of {', '.join(map(str, action.choices))}")
        out.append(v)
    return out if items is not None else out[0]


def options_defaults(parser, path: str) -> dict:
    """The options in `path` as argparse defaults of `parser` (checked: known keys, right types)."""
    from fsa_distill.yaml_file import read_yaml

    defaults = {}
    for key, value in read_yaml(path).items():
        action = _option(parser, str(key), path)
        defaults[action.dest] = _value(action, value, f"{path}: {key}")
    return defaults


def apply_options_file(args, parse):
    """After a first parse: read `--config FILE` into the command's defaults and parse again (so
    the command line wins), then check the options the command requires. `parse()` parses argv."""
    parser = getattr(args, "_parser", None)
    path = getattr(args, OPTIONS_FILE, None)
    if parser is not None and path is not None:
        parser.set_defaults(**options_defaults(parser, path))
        args = parse()
    missing = [d for d in getattr(args, "_required", []) if getattr(args, d, None) in (None, [])
               and not (d == "config" and getattr(args, RECIPE_FILE, None))]
    if missing:
        message = f"the following arguments are required: {', '.join(_name(parser, d) for d in missing)}"
        parser.error(message)  # argparse's own message and exit code 2
    return args


def _name(parser, dest: str) -> str:
    for a in parser._actions:
        if a.dest == dest:
            return "/".join(a.option_strings) if a.option_strings else (a.metavar or a.dest)
    return dest
