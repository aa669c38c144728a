"""YAML read so that no input can hang, crash or silently mean something else.

`load_yaml` refuses a key written twice in one mapping (YAML would keep the last), nesting deeper
than `MAX_DEPTH` (PyYAML composes recursively), aliases that expand past `MAX_VALUES` values (a
"billion laughs" document), and an alias that refers to itself; `check_integers` refuses integers
that do not fit the signed 64 bits the results store can hold. Every refusal is one ConfigError
line that never holds a whole value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from vlmperf.config.errors_format import origin_of, shorten
from vlmperf.config.spec_base import INT64_MAX, INT64_MIN
from vlmperf.errors import ConfigError

MAX_DEPTH = 64
"""Deepest nesting of mappings and lists a config may have (a real one needs fewer than 10 levels;
PyYAML builds nodes recursively, so a document nested thousands deep would crash the process)."""

MAX_VALUES = 100_000
"""Most values (scalars, lists and mappings, an alias counted once per use) a YAML document may
expand to; a real config has a few hundred, an alias bomb billions."""

MERGE_TAG = "tag:yaml.org,2002:merge"


class _Refused(Exception):
    """A YAML document refused while loading: the message and the 1-based line it points at."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader with nesting bounded while composing (before it recurses deeper)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self._depth >= MAX_DEPTH:
            line = self.peek_event().start_mark.line + 1
            raise _Refused(
                f"nested deeper than {MAX_DEPTH} levels at line {line} (a real config needs fewer than 10)", line
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _key_text(node: yaml.Node) -> str:
    return shorten(node.value if isinstance(node, yaml.ScalarNode) else f"<{node.id}>", 40)


def _check_nodes(root: yaml.Node) -> None:
    """Refuse duplicate keys, self-referring aliases and alias expansion past `MAX_VALUES`.

    Aliases share nodes, so each distinct node's expanded size is computed once (memoised by
    identity): the walk is linear in the document's text whatever its aliases expand to.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node, path: str) -> int:
        ident = id(node)
        if ident in sizes:
            return sizes[ident]
        if ident in open_nodes:
            line = node.start_mark.line + 1
            raise _Refused(
                f"{path or '(top level)'}: an alias refers to a value that contains it (line {line}); "
                "a config cannot be recursive",
                line,
            )
        open_nodes.add(ident)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for index, child in enumerate(node.value):
                total += size(child, f"{path}[{index}]")
        elif isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], yaml.Mark] = {}
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != MERGE_TAG:
                    key = (key_node.tag, key_node.value)
                    mark, line = key_node.start_mark, key_node.start_mark.line + 1
                    if key in seen:
                        first = seen[key]
                        at = (
                            f"lines {first.line + 1} and {line}"
                            if first.line != mark.line
                            else f"line {line}, columns {first.column + 1} and {mark.column + 1}"
                        )
                        dotted = f"{path}.{key_node.value}" if path else key_node.value
                        raise _Refused(
                            f"key {shorten(dotted, 80)!r} appears twice: {at}; "
                            "keep one (YAML would silently use the last)",
                            line,
                        )
                    seen[key] = mark
                child_path = f"{path}.{_key_text(key_node)}" if path else _key_text(key_node)
                total += size(key_node, child_path) + size(value_node, child_path)
        open_nodes.discard(ident)
        if total > MAX_VALUES:
            line = node.start_mark.line + 1
            raise _Refused(
                f"{path or '(top level)'}: the document expands to more than {MAX_VALUES:,} values (line {line}; "
                "an alias counts once per use, so this looks like an alias bomb); a real config has a few hundred",
                line,
            )
        sizes[ident] = total
        return total

    size(root, "")


def load_yaml(text: str, where: str, what: str = "") -> Any:
    """`text` read as YAML with the safe loader, refusing what `ConfigLoader` and `_check_nodes` refuse.

    Any problem is a one-line ConfigError starting with `where` (`what` names the text in a syntax error:
    `the value is `); no message holds a whole value.
    """
    loader = ConfigLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node)
        return loader.construct_document(node)
    except _Refused as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"{where}: {what}not valid YAML{at}: {shorten(problem, 200)}; fix the syntax and run again"
        ) from None
    except ValueError as exc:  # a value YAML cannot build, such as an integer of more than 4300 digits
        if "integer string conversion" in str(exc):
            raise ConfigError(
                f"{where}: an integer of thousands of digits cannot be read: a config integer must fit in signed "
                "64 bits (-2**63 .. 2**63-1), which the results store can hold"
            ) from None
        raise ConfigError(f"{where}: a value cannot be read: {shorten(str(exc), 200)}") from None
    except (RecursionError, MemoryError) as exc:  # defensive: the bounds above should make these unreachable
        raise ConfigError(
            f"{where}: the YAML is too large or too deeply nested to load ({type(exc).__name__})"
        ) from None
    finally:
        loader.dispose()


def check_integers(tree: Any, where: str, origins: Mapping[str, str] | None = None, path: str = "") -> None:
    """Refuse any integer in the raw config that does not fit in signed 64 bits, naming its key.

    The results store (orjson) cannot hold a bigger one, so it would fail only when the run is saved."""
    if isinstance(tree, bool):
        return
    if isinstance(tree, int):
        if not INT64_MIN <= tree <= INT64_MAX:
            key = path or "(top level)"
            raise ConfigError(
                f"{origin_of(key, where, origins)}: {shorten(key, 120)}: an integer must fit in signed 64 bits "
                f"(-2**63 .. 2**63-1): the results store cannot hold a bigger one (got {shorten(tree, 40)})"
            )
    elif isinstance(tree, dict):
        for key, value in tree.items():
            check_integers(value, where, origins, f"{path}.{key}" if path else str(key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            check_integers(value, where, origins, f"{path}[{index}]")
