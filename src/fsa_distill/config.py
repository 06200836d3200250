"""Typed configs: YAML files plus dotted `key=value` overrides, validated by pydantic.

Every stage declares its config as a `StrictConfig` subclass (unknown keys are errors). A recipe is
one YAML file; the command line may override any field:

    fsa-distill finetune configs/finetune/rest14-tiny.yaml train.epochs=3 seed=52

Errors name the file and the key, in one line, e.g.
`configs/x.yaml: train.epochs: Input should be a valid integer (got 'three')`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from fsa_distill.errors import FsaError

T = TypeVar("T", bound="StrictConfig")


class StrictConfig(BaseModel):
    """Base for all configs: unknown keys are rejected, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


def parse_override(item: str) -> tuple[list[str], Any]:
    """`train.lr=3e-4` -> (["train", "lr"], 0.0003). The value is read as a YAML scalar."""
    if "=" not in item:
        raise FsaError(f"override {item!r}: expected key=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise FsaError(f"override {item!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() != "" else ""
    except yaml.YAMLError:
        value = raw
    # YAML reads 3e-4 as a string (no dot); numbers are what users mean.
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in "eE.") else int(value)
        except ValueError:
            pass
    return key.split("."), value


def apply_overrides(data: dict, overrides: Iterable[str]) -> dict:
    data = dict(data)
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = {}
            elif not isinstance(child, dict):
                raise FsaError(f"override {item!r}: {part} is not a section")
            node[part] = child = dict(child)
            node = child
        node[path[-1]] = value
    return data


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise FsaError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise FsaError(f"{path}:{where} invalid YAML: {getattr(e, 'problem', e)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FsaError(f"{path}: expected a mapping of config keys at the top level")
    return data


def format_validation_error(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    got = first.get("input")
    hint = "" if first["type"] in ("extra_forbidden", "missing") else f" (got {got!r})"
    more = f" [+{len(err.errors()) - 1} more]" if len(err.errors()) > 1 else ""
    return f"{source}: {loc}: {msg}{hint}{more}"


def build_config(cls: type[T], data: dict, source: str = "config") -> T:
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise FsaError(format_validation_error(e, source)) from None


def load_config(cls: type[T], path: str | Path | None = None, overrides: Iterable[str] = (),
                base: dict | None = None) -> T:
    """Load `cls` from an optional YAML file, then `base` keys, then command-line overrides."""
    data: dict = {}
    source = "config"
    if path is not None:
        data = read_yaml(path)
        source = str(path)
    if base:
        data = {**data, **{k: v for k, v in base.items() if v is not None}}
    overrides = list(overrides)
    if overrides:
        data = apply_overrides(data, overrides)
    return build_config(cls, data, source)


def dump_config(cfg: BaseModel, path: str | Path) -> None:
    """Write the resolved config a stage ran with, so the run can be repeated."""
    Path(path).write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), encoding="utf-8")


# ------------------------------------------------------------------------- command-line helpers
def add_config_args(parser, example: str = "", override_example: str = "train.epochs=3") -> None:
    """The positionals every stage command takes: an optional recipe, then key=value overrides."""
    parser.add_argument("config", nargs="?",
                        help=f"YAML recipe{', e.g. ' + example if example else ' (optional: defaults are built in)'}")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help=f"override config keys, e.g. {override_example}")


def split_config_args(args) -> tuple[str | None, list[str]]:
    """argparse cannot tell `CMD key=value` from `CMD CONFIG`: a first positional with '=' (and
    not a .yaml name) is an override."""
    config, overrides = args.config, list(args.overrides)
    if config is not None and "=" in config and not config.endswith((".yaml", ".yml")):
        overrides.insert(0, config)
        config = None
    return config, overrides
