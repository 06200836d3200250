"""The `fsa-distill` command line. Thin: parse arguments, load a config, call a recipe.

Each stage package registers its own subcommands in a `commands.py` module (listed below), so
the flow reads in the same order as the method. Heavy imports happen inside the handlers.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import sys
import traceback

from fsa_distill import __version__, cli_args
from fsa_distill.errors import FsaError

# One module per stage, in the order of the method. Each defines `register(subparsers)`; a new
# command goes into its stage's commands.py (docs/architecture.md).
COMMAND_MODULES = [
    "fsa_distill.data_import.commands",  # data stats, data import, data export
    "fsa_distill.benchmark.commands",    # score
    "fsa_distill.teacher.commands",      # generate
    "fsa_distill.student.commands",      # build-student, pretrain, finetune
    "fsa_distill.evaluation.commands",   # evaluate, zeroshot, llm-eval, report
    "fsa_distill.inference.commands",    # predict
    "fsa_distill.serving.commands",      # serve
    "fsa_distill.pipeline.commands",     # run
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fsa-distill",
        description="Distill fine-grained sentiment understanding from an LLM into a small "
        "seq2seq student, and measure it on the FSA benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"fsa-distill {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for command in cli_args.leaf_parsers(sub):  # every command: a YAML file and flags, the same way
        cli_args.install(command)
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    # argparse stops taking positionals after the first option, so `run X.yaml --dry-run seed=1`
    # would reject `seed=1`: key=value words found after options are overrides too.
    args, extra = parser.parse_known_args(argv)
    late = [a for a in extra if "=" in a and not a.startswith("-")]
    if late and hasattr(args, "overrides"):
        args.overrides = list(args.overrides or []) + late
        extra = [a for a in extra if a not in late]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parse(parser, argv)
        args = cli_args.apply_options_file(args, lambda: parse(parser, argv))  # --config FILE, then flags
    except FsaError as e:
        return _fail(None, str(e), e.exit_code)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        rc = args.func(args)
    except FsaError as e:
        return _fail(args, str(e), e.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `fsa-distill ... | head`: the reader left. Point stdout at /dev/null so the interpreter's
        # own flush at exit does not fail again; the output was not wanted.
        _silence_stdout()
        return 0
    except OSError as e:
        # The environment failing under a command (disk full, quota, read-only): nothing a check
        # up front can rule out, so name the cause and the file here, once for all commands.
        if e.errno in _ENVIRONMENT_ERRNOS:
            where = f" writing {e.filename}" if e.filename else ""
            return _fail(args, f"{_ENVIRONMENT_ERRNOS[e.errno]}{where} ({e.strerror})", 2)
        raise
    return int(rc or 0)


# errno -> what it means for the user; OSErrors outside this table are bugs and keep their traceback.
_ENVIRONMENT_ERRNOS = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded",
                       errno.EROFS: "read-only file system"}


def _fail(args, message: str, code: int) -> int:
    """One line on stderr; with -v the traceback first, for debugging."""
    if getattr(args, "verbose", False):
        traceback.print_exc()
    if sys.stderr is not None:
        print(f"error: {message}", file=sys.stderr)
    return code


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):
        pass

if __name__ == "__main__":
    sys.exit(main())
