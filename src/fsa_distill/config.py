"""Typed configs: YAML files plus dotted `key=value` overrides, validated by pydantic.

Every stage declares its config as a `StrictConfig` subclass (unknown keys are errors). A recipe is
one YAML file; the command line may override any field:

    fsa-distill finetune configs/finetune/rest14-tiny.yaml train.epochs=3 seed=52

Errors name the file and the key, in one line, e.g.
`configs/x.yaml: train.epochs: Input should be a valid integer (got 'three')`.
The file is read by the hardened loader in yaml_file.py; the command-line helpers every command
shares (the recipe positional, `--config`, `--quiet`) are in cli_args.py.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import logging
import math
from pathlib import Path
from typing import Any, ClassVar, Iterable, NamedTuple, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from fsa_distill import limits
from fsa_distill.errors import FsaError
from fsa_distill.limits import clip, echo
from fsa_distill.yaml_file import read_yaml

T = TypeVar("T", bound="StrictConfig")
log = logging.getLogger(__name__)


class Renamed(NamedTuple):
    """A config key's new name; `values` maps old values to new ones when the meaning moved too."""

    new: str
    values: dict | None = None


# Renamed keys are accepted with a warning (once per key and process); not while a stored config
# is read back to compare it (runs.same_config), where the old name is expected.
_QUIET_RENAMES = contextvars.ContextVar("quiet_renames", default=False)
_WARNED: set[str] = set()


@contextlib.contextmanager
def quiet_renames():
    token = _QUIET_RENAMES.set(True)
    try:
        yield
    finally:
        _QUIET_RENAMES.reset(token)


class StrictConfig(BaseModel):
    """Base for all configs: unknown keys are rejected, assignments are validated.

    `renamed` lists keys that were renamed (old -> Renamed(new)): one name per setting across
    stages (`learning_rate`, `precision`, `output_dir`), the old one still accepted for one
    release with a deprecation warning."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())
    renamed: ClassVar[dict[str, Renamed]] = {}

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data):
        if not cls.renamed or not isinstance(data, dict):
            return data
        data = dict(data)
        for old, (new, values) in cls.renamed.items():
            if old not in data:
                continue
            if new in data:
                raise ValueError(f"{old} and {new} are the same setting ({old} is its old name): give only {new}")
            value = data.pop(old)
            data[new] = values.get(value, value) if values and isinstance(value, (bool, str)) else value
            if not _QUIET_RENAMES.get() and f"{cls.__name__}.{old}" not in _WARNED:
                _WARNED.add(f"{cls.__name__}.{old}")
                log.warning("config key %r is deprecated: it is now %r (the old name goes in the next release)",
                            old, new)
        return data


def legacy_keys(cls: type[BaseModel], data: dict) -> dict:
    """`data` (a raw config section for `cls`) with renamed keys written under their old names.
    Stage folders are named by a hash of their raw config; hashing this form keeps every folder
    name (and so every finished or committed run) where it was before the keys were renamed."""
    out = dict(data)
    for old, (new, values) in getattr(cls, "renamed", {}).items():
        if new in out and old not in out:
            value = out.pop(new)
            back = {v: k for k, v in (values or {}).items()}
            out[old] = back.get(value, value) if isinstance(value, (bool, str)) else value
    for name, field in cls.model_fields.items():
        sub = field.annotation
        if name in out and isinstance(out[name], dict) and isinstance(sub, type) and issubclass(sub, BaseModel):
            out[name] = legacy_keys(sub, out[name])
    return out


def deep_merge(base: dict, extra: dict) -> dict:
    """`base` with `extra`'s keys set, section by section (nested dicts merge, other values replace)."""
    out = copy.deepcopy(base)
    for k, v in (extra or {}).items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def parse_override(item: str) -> tuple[list[str], Any]:
    """`train.learning_rate=3e-4` -> (["train", "learning_rate"], 0.0003). The value is read as a YAML scalar."""
    if "=" not in item:
        raise FsaError(f"override {echo(item)}: expected key=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise FsaError(f"override {echo(item)}: empty key")
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
                raise FsaError(f"override {echo(item)}: {clip(part)} is not a section")
            node[part] = child = dict(child)
            node = child
        node[path[-1]] = value
    return data


def _check_finite(data, source: str, where: str = "") -> None:
    """inf and nan are valid YAML floats but no config value: `train.epochs=.inf` would overflow
    deep inside training."""
    if isinstance(data, float) and not math.isfinite(data):
        raise FsaError(f"{source}: {where or '(top level)'}: {data} is not a finite number")
    if isinstance(data, dict):
        for k, v in data.items():
            _check_finite(v, source, f"{where}.{k}" if where else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            _check_finite(v, source, f"{where}.{i}" if where else str(i))


def format_validation_error(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    got = first.get("input")
    hint = "" if first["type"] in ("extra_forbidden", "missing") else f" (got {echo(got)})"
    more = f" [+{len(err.errors()) - 1} more]" if len(err.errors()) > 1 else ""
    return f"{source}: {clip(loc)}: {clip(msg, 4 * limits.MAX_ECHO_CHARS)}{hint}{more}"


def build_config(cls: type[T], data: dict, source: str = "config") -> T:
    try:
        cfg = cls.model_validate(data)
    except ValidationError as e:
        raise FsaError(format_validation_error(e, source)) from None
    _check_finite(cfg.model_dump(), source)  # after validation: pydantic reads the string "inf" too
    return cfg


def drop_none(flags: dict) -> dict:
    """Only the flags given on the command line (None = not given), section by section."""
    out = {}
    for k, v in flags.items():
        if isinstance(v, dict):
            v = drop_none(v)
        if v is not None and v != {}:
            out[k] = v
    return out


def load_config(cls: type[T], path: str | Path | None = None, overrides: Iterable[str] = (),
                flags: dict | None = None) -> T:
    """The one way a command builds its config: the YAML file (optional), then the command's own
    flags (nested dicts; None = flag not given, so the file's value stays), then key=value
    overrides. The last one wins."""
    data: dict = read_yaml(path) if path is not None else {}
    data = deep_merge(data, drop_none(flags or {}))
    overrides = list(overrides)
    if overrides:
        data = apply_overrides(data, overrides)
    return build_config(cls, data, str(path) if path is not None else "command line" if flags is not None else "config")


def dump_config(cfg: BaseModel, path: str | Path) -> None:
    """Write the resolved config a stage ran with, so the run can be repeated."""
    Path(path).write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
