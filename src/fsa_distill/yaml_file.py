"""The hardened YAML loader of config files: bounded in size (resources.read_bytes), alias
expansion and nesting; duplicate keys and bad UTF-8 are errors naming the line."""

from __future__ import annotations

from pathlib import Path

import yaml

from fsa_distill import limits
from fsa_distill.errors import FsaError
from fsa_distill.limits import echo
from fsa_distill.resources import decode_utf8, read_bytes


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
