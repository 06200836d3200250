"""Typed configs: YAML files plus dotted `key=value` overrides, validated by pydantic.

Every stage declares its config as a `StrictConfig` subclass (unknown keys are errors). A recipe is
one YAML file; the command line may override any field:

    fsa-distill finetune configs/finetune/rest14-tiny.yaml train.epochs=3 seed=52

Errors name the file and the key, in one line, e.g.
`configs/x.yaml: train.epochs: Input should be a valid integer (got 'three')`.
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


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader that refuses what a config never needs and an attacker would use: duplicate
    keys (the last one silently won), and aliases that expand to more than limits.MAX_YAML_NODES
    values or refer to themselves (a "billion laughs" file is 350 bytes and 10^9 values)."""

    def construct_document(self, node):
        _check_expansion(node, self.name)
        return super().construct_document(node)

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise FsaError(f"{self.name}: line {key_node.start_mark.line + 1}: duplicate key "
                               f"{echo(key_node.value)} (first on line {seen[key]})")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def _check_expansion(root, name: str) -> None:
    """Count the values `root` expands to, each shared (aliased) node once per reference, in time
    linear in the file: sizes are memoized per node."""
    limit, depth_limit = limits.MAX_YAML_NODES, limits.MAX_JSON_DEPTH
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node, depth: int) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if depth > depth_limit:
            raise FsaError(f"{name}: line {node.start_mark.line + 1}: nested deeper than {depth_limit} levels "
                           "(raise FSA_DISTILL_MAX_JSON_DEPTH)")
        if id(node) in active:
            raise FsaError(f"{name}: line {node.start_mark.line + 1}: an alias refers to itself")
        active.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        total = 1
        for child in children:
            total += size(child, depth + 1)
            if total > limit:
                raise FsaError(f"{name}: expands to more than {limit} values through its aliases (&/*); "
                               "a config never needs that many (raise FSA_DISTILL_MAX_YAML_NODES)")
        active.discard(id(node))
        sizes[id(node)] = total
        return total

    size(root, 0)


def read_yaml(path: str | Path) -> dict:
    """A config file as a mapping. Bounded: at most limits.MAX_CONFIG_BYTES, alias expansion and
    nesting bounded; duplicate keys and bad UTF-8 are errors naming the line."""
    path = Path(path)
    if not path.exists():
        raise FsaError(f"{path}: config file not found")
    if path.is_dir():
        raise FsaError(f"{path}: is a folder, not a config file")
    if not path.is_file():
        raise FsaError(f"{path}: not a regular file")
    from fsa_distill.resources import decode_utf8, read_bytes

    text = decode_utf8(read_bytes(path, limit_name="MAX_CONFIG_BYTES"), path, "; save the file as UTF-8")
    loader = _ConfigLoader(text)
    loader.name = str(path)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise FsaError(f"{path}:{where} invalid YAML: {echo(getattr(e, 'problem', None) or str(e))}") from None
    except RecursionError:
        raise FsaError(f"{path}: nested too deep") from None
    finally:
        loader.dispose()
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FsaError(f"{path}: expected a mapping of config keys at the top level")
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


# ------------------------------------------------------------------------- command-line helpers
def add_config_args(parser, example: str = "", override_example: str = "train.epochs=3") -> None:
    """The positionals every stage command takes: an optional recipe, then key=value overrides."""
    parser.add_argument("config", nargs="?",
                        help=f"YAML recipe{', e.g. ' + example if example else ' (optional: defaults are built in)'}")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help=f"override config keys, e.g. {override_example}")


def add_progress_flag(parser) -> None:
    """The one progress switch of every command (`--no-progress` is its old spelling)."""
    import argparse

    parser.add_argument("--quiet", dest="quiet", action="store_true", help="no progress bars (logs, CI)")
    parser.add_argument("--no-progress", dest="quiet", action="store_true", help=argparse.SUPPRESS)


def split_config_args(args) -> tuple[str | None, list[str]]:
    """argparse cannot tell `CMD key=value` from `CMD CONFIG`: a first positional with '=' (and
    not a .yaml name) is an override."""
    config, overrides = args.config, list(args.overrides)
    if config is not None and "=" in config and not config.endswith((".yaml", ".yml")):
        overrides.insert(0, config)
        config = None
    return config, overrides
