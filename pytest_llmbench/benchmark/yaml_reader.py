"""Read YAML so that every error names the file, line and key: `f:12: a.b: what; fix`.

`load_yaml` parses once and remembers where each key is (`read_yaml` also decodes a file's
bytes and words the errors); `Reader` checks values (types, ranges, known keys, ${VAR}
expansion) and raises errors in that one format. The llmbench YAML and the prompt files
are both read this way.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from pytest_llmbench.errors import UserError

KeyPath = tuple[str, ...]  # mapping keys as written; sequence items as "0", "1", ...

_MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(Exception):
    """A mapping repeats a key; PyYAML would silently keep the last one."""

    def __init__(self, path: KeyPath, line: int, first_line: int) -> None:
        super().__init__(f"duplicate key {'.'.join(path)!r} on line {line}")
        self.path = path
        self.line = line
        self.first_line = first_line


@dataclass(frozen=True)
class LoadedYAML:
    data: Any
    key_lines: dict[KeyPath, int]  # 1-based line of each key
    value_lines: dict[KeyPath, int]  # 1-based line where each value's content starts

    def line(self, path: KeyPath) -> int:
        """The line of `path`, else of its nearest ancestor that exists, else 1."""
        while path:
            if path in self.key_lines:
                return self.key_lines[path]
            path = path[:-1]
        return 1


def load_yaml(text: str) -> LoadedYAML:
    """yaml.safe_load plus line numbers; raises yaml.YAMLError or DuplicateKeyError."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        key_lines: dict[KeyPath, int] = {}
        value_lines: dict[KeyPath, int] = {}
        if node is None:
            return LoadedYAML(None, key_lines, value_lines)
        # Walk before constructing: construction flattens `<<` merges into node.value in
        # place, which would make a legitimate override look like a duplicate key.
        _walk(node, (), key_lines, value_lines, ())
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    return LoadedYAML(data, key_lines, value_lines)


def _content_line(node: yaml.Node) -> int:
    # A block scalar's text starts on the line after its `|` or `>` indicator.
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        return node.start_mark.line + 2
    return node.start_mark.line + 1


def _walk(
    node: yaml.Node,
    path: KeyPath,
    key_lines: dict[KeyPath, int],
    value_lines: dict[KeyPath, int],
    ancestors: tuple[int, ...],
) -> None:
    if id(node) in ancestors:  # a recursive alias; its lines are already recorded
        return
    ancestors = (*ancestors, id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, str(index))
            key_lines[child] = value_lines[child] = item.start_mark.line + 1
            _walk(item, child, key_lines, value_lines, ancestors)
        return
    if not isinstance(node, yaml.MappingNode):
        return
    seen: dict[str, int] = {}
    merged: list[yaml.Node] = []
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:
            merged.append(value_node)
            continue
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
        line = key_node.start_mark.line + 1
        child = (*path, key)
        if key in seen:
            raise DuplicateKeyError(child, line, seen[key])
        seen[key] = line
        key_lines[child] = line
        value_lines[child] = _content_line(value_node)
        _walk(value_node, child, key_lines, value_lines, ancestors)
    # Merged keys point at the anchor's lines, and never override explicit keys.
    for source in merged:
        sources = source.value if isinstance(source, yaml.SequenceNode) else [source]
        for item in sources:
            more_keys: dict[KeyPath, int] = {}
            more_values: dict[KeyPath, int] = {}
            _walk(item, path, more_keys, more_values, ancestors)
            for child, line in more_keys.items():
                key_lines.setdefault(child, line)
            for child, line in more_values.items():
                value_lines.setdefault(child, line)


def read_yaml(raw: bytes, display: str, error_type: type[Exception]) -> LoadedYAML:
    """A YAML file's bytes decoded and loaded; what stops that is `error_type("f:line: ...")`."""
    try:
        return load_yaml(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise error_type(f"{display}: not valid UTF-8 ({exc.reason}); save as UTF-8") from None
    except DuplicateKeyError as exc:
        raise error_type(
            f"{display}:{exc.line}: {'.'.join(exc.path)}: duplicate key (first on line "
            f"{exc.first_line}); remove one of them"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or exc
        raise error_type(
            f"{display}:{line}: not valid YAML ({problem}); fix the YAML syntax"
        ) from None


# --- ${VAR} expansion ----------------------------------------------------------------------

_ENV_RE = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-)([^}]*))?\}|(\{))")


class Expanded(str):
    """A string produced by ${VAR} expansion: may stand for a number or a boolean."""


def expand_env(text: str, environ: Mapping[str, str]) -> str:
    """${VAR} ("" when unset) and ${VAR:-default} (also when empty, as in sh); $$ is $.

    Raises ValueError(the bad reference) for `${` not followed by NAME} or NAME:-default}.
    """
    substituted = False

    def replace(match: re.Match[str]) -> str:
        nonlocal substituted
        dollar, name, has_default, default, bad = match.groups()
        if dollar:
            return "$"
        if bad or (default and "${" in default):
            raise ValueError(match.group(0))
        substituted = True
        value = environ.get(name, "")
        return default if has_default and not value else value

    result = _ENV_RE.sub(replace, text)
    return Expanded(result) if substituted else result


# --- typed values with located errors ------------------------------------------------------

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


class Reader:
    """Typed access to a loaded document; every failure is `error_type("f:line: key: ...")`."""

    def __init__(self, display: str, loaded: LoadedYAML, error_type: type[UserError]) -> None:
        self.display = display
        self.loaded = loaded
        self.error_type = error_type

    def error(self, path: KeyPath, what: str, fix: str) -> UserError:
        line = self.loaded.line(path)
        return self.error_type.at(self.display, line, ".".join(path) or None, what, fix)

    def expand(self, value: Any, path: KeyPath, environ: Mapping[str, str]) -> Any:
        """`value` with ${VAR} expanded in every string (keys are left as written)."""
        if isinstance(value, str):
            try:
                return expand_env(value, environ)
            except ValueError as exc:
                raise self.error(
                    path,
                    f"malformed variable reference {exc.args[0]!r}",
                    "write ${NAME} or ${NAME:-default}, and $$ for a literal $",
                ) from None
        if isinstance(value, dict):
            return {k: self.expand(v, (*path, str(k)), environ) for k, v in value.items()}
        if isinstance(value, list):
            return [self.expand(v, (*path, str(i)), environ) for i, v in enumerate(value)]
        return value

    def mapping(
        self,
        value: Any,
        path: KeyPath,
        allowed: Sequence[str] | None,
        required: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """A mapping whose keys are in `allowed` (None: any name); `required` key -> fix."""
        if not isinstance(value, dict):
            expected = f"keys from {', '.join(sorted(allowed))}" if allowed else "named entries"
            raise self.error(path, f"expected a mapping, got {show(value)}", f"give it {expected}")
        for key in value:
            self.key(key, path, allowed)
        for key, fix in (required or {}).items():
            if key not in value:
                raise self.error((*path, key), "missing", fix)
        return value

    def key(self, key: Any, path: KeyPath, allowed: Sequence[str] | None) -> str:
        if not isinstance(key, str):
            raise self.error((*path, str(key)), "keys must be text", f"quote it: '{key}'")
        if allowed is not None and key not in allowed:
            raise self.error((*path, key), "unknown key", one_of(key, sorted(allowed)))
        if allowed is None and not NAME_RE.match(key):
            raise self.error(
                (*path, key), "invalid name", "use only letters, digits, '_', '.' and '-'"
            )
        return key

    def number(
        self, value: Any, path: KeyPath, *, ge: float | None = None, gt: float | None = None
    ) -> float:
        if isinstance(value, Expanded):  # "${TIMEOUT:-60}" stands for a number
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(path, f"expected a number, got {show(value)}", "write a number")
        if not math.isfinite(value):
            raise self.error(path, f"expected a finite number, got {value}", "write a number")
        if ge is not None and value < ge:
            raise self.error(path, f"must be >= {ge:g}, got {value:g}", f"use {ge:g} or more")
        if gt is not None and value <= gt:
            raise self.error(path, f"must be > {gt:g}, got {value:g}", f"use more than {gt:g}")
        return float(value)

    def integer(self, value: Any, path: KeyPath, *, ge: int) -> int:
        if isinstance(value, Expanded):
            with contextlib.suppress(ValueError):
                value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(
                path, f"expected a whole number, got {show(value)}", "write an integer"
            )
        if value < ge:
            raise self.error(path, f"must be >= {ge}, got {value}", f"use {ge} or more")
        return value

    def boolean(self, value: Any, path: KeyPath) -> bool:
        if isinstance(value, Expanded) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise self.error(
                path, f"expected true or false, got {show(value)}", "write true or false"
            )
        return value

    def string(self, value: Any, path: KeyPath) -> str:
        if not isinstance(value, str):
            raise self.error(path, f"expected text, got {show(value)}", "quote it")
        return str(value)  # a plain str, not Expanded

    def choice(self, value: Any, path: KeyPath, choices: Sequence[str]) -> Any:
        """One of `choices` (typed Any so that callers can store it in a Literal field)."""
        if not isinstance(value, str) or value not in choices:
            raise self.error(path, f"unknown value {show(value)}", one_of(str(value), choices))
        return str(value)


def one_of(value: str, choices: Sequence[str]) -> str:
    """`expected one of a, b (did you mean 'a'?)`."""
    close = difflib.get_close_matches(value, choices, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"expected one of {', '.join(choices)}{hint}"


def show(value: Any) -> str:
    """A value as a YAML user would recognise it in a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(str(value)) if isinstance(value, str) else repr(value)
