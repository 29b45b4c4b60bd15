"""Read YAML so that every error names the file, line and key: `f:12: a.b: what; fix`.

`load_yaml` parses once and remembers where each key is (`read_yaml` also decodes a file's
bytes and words the errors); `Reader` checks values (types, ranges, known keys, ${VAR}
expansion) and raises errors in that one format. The llmbench YAML and the prompt files
are both read this way.
"""

from __future__ import annotations

import codecs
import contextlib
import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pytest_llmbench.benchmark import limits
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
    """yaml.safe_load plus line numbers, within the limits of `limits.py`; raises
    yaml.YAMLError (LimitError for a limit) or DuplicateKeyError."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        key_lines: dict[KeyPath, int] = {}
        value_lines: dict[KeyPath, int] = {}
        if node is None:
            return LoadedYAML(None, key_lines, value_lines)
        if loader.aliases:  # without, composing checked the depth and nothing expands
            _check_expansion(node, loader.nodes)  # before anything walks the expansion
        # Walk before constructing: construction flattens `<<` merges into node.value in
        # place, which would make a legitimate override look like a duplicate key.
        _walk(node, (), key_lines, value_lines, ())
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    return LoadedYAML(data, key_lines, value_lines)


class LimitError(yaml.YAMLError):
    """The YAML goes past one of the bounds of `limits.py` at `line`."""

    def __init__(self, line: int, what: str, fix: str) -> None:
        super().__init__(f"line {line}: {what}")
        self.line, self.what, self.fix = line, what, fix


try:
    from yaml.cyaml import CParser as _Events  # type: ignore[attr-defined]  # libyaml: ~10x faster
except ImportError:  # pragma: no cover - a PyYAML built without libyaml

    class _Events(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)


class _BoundedLoader(
    yaml.composer.Composer, yaml.constructor.SafeConstructor, yaml.resolver.Resolver, _Events
):
    """yaml.SafeLoader's parts, with events from libyaml when it is there and composition
    in Python, so that it stops at the nesting and alias bounds (PyYAML composes
    recursively, and expands a billion laughs without asking); integers too long to be
    numbers are refused, and a constructor's ValueError (a 13th month) is a located YAML
    error."""

    def __init__(self, text: str) -> None:
        _Events.__init__(self, text)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        yaml.composer.Composer.__init__(self)
        self._depth = 0
        self.aliases = 0
        self.nodes = 0  # nodes composed, each once: what the file writes out

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > limits.YAML_ALIASES:
                raise LimitError(
                    _line(getattr(event, "start_mark", None)),
                    f"more than {limits.YAML_ALIASES} aliases (*name)",
                    "write the repeated values out, or use fewer anchors",
                )
            return super().compose_node(parent, index)
        self.nodes += 1
        collection = isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent))
        self._depth += collection
        try:
            if self._depth > limits.NESTING_DEPTH:
                raise LimitError(
                    _line(getattr(event, "start_mark", None)),
                    f"nested more than {limits.NESTING_DEPTH} levels deep",
                    "flatten the structure",
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= collection

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, OverflowError, TypeError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.value!r:.60} as {node.tag}: {exc}", node.start_mark
            ) from None

    def construct_bounded_int(self, node: yaml.ScalarNode) -> int:
        digits = len(node.value)
        if digits > limits.INTEGER_DIGITS:
            digits = sum(c.isalnum() for c in node.value)
        if digits > limits.INTEGER_DIGITS:
            raise LimitError(
                _line(node.start_mark),
                f"an integer of {digits} digits (the limit is {limits.INTEGER_DIGITS})",
                "write a smaller number, or quote it to keep it as text",
            )
        value: int = super().construct_yaml_int(node)
        return value


_BoundedLoader.add_constructor(  # type: ignore[type-var]
    "tag:yaml.org,2002:int", _BoundedLoader.construct_bounded_int
)


def _line(mark: Any) -> int:
    return mark.line + 1 if mark is not None else 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root: yaml.Node, written: int) -> None:
    """LimitError unless `root`, its aliases expanded, is finite, at most NESTING_DEPTH
    deep, and adds at most YAML_EXPANDED_NODES nodes to the `written` ones. Iterative, and
    each node is sized once, so the check itself is linear in the file."""
    most = written + limits.YAML_EXPANDED_NODES
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, depth) when expanded
    active: set[int] = set()  # entered and not yet left: the nodes above this one
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        key = id(node)
        if not leaving:
            if key in sizes:
                continue
            if key in active:
                raise LimitError(
                    _line(node.start_mark),
                    "a recursive alias (a value that contains itself)",
                    "refer to an anchor only outside its own value",
                )
            active.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
            continue
        active.discard(key)
        children = [sizes[id(child)] for child in _children(node)]
        count = 1 + sum(n for n, _ in children)
        depth = (1 if isinstance(node, yaml.CollectionNode) else 0) + max(
            (d for _, d in children), default=0
        )
        if count > most:
            raise LimitError(
                _line(node.start_mark),
                f"its aliases expand to more than {limits.YAML_EXPANDED_NODES:,} more values",
                "write the repeated values out, or use fewer aliases",
            )
        if depth > limits.NESTING_DEPTH:
            raise LimitError(
                _line(node.start_mark),
                f"with its aliases expanded, nested more than {limits.NESTING_DEPTH} levels deep",
                "flatten the structure",
            )
        sizes[key] = (count, depth)


def _content_line(node: yaml.Node) -> int:
    # A block scalar's text starts on the line after its `|` or `>` indicator.
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        return node.start_mark.line + 2
    return _line(node.start_mark)


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


def read_yaml(raw: bytes, display: str, error_type: type[UserError], limit: int) -> LoadedYAML:
    """A YAML file's bytes (at most `limit` of them) decoded and loaded; what stops that is
    `error_type("f:line: ...")`."""
    if len(raw) > limit:
        line = raw.count(b"\n", 0, limit) + 1
        raise error_type.at(
            display, line, None, f"the file goes past {limits.size(limit)} here", _smaller(limit)
        )
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise error_type.at(display, 1, None, "the file is UTF-16 (or UTF-32)", "save it as UTF-8")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error_type.at(
            display, line, None, f"not valid UTF-8 ({exc.reason})", "save it as UTF-8"
        ) from None
    bad = _NOT_YAML_RE.search(text)
    if bad:
        raise error_type.at(
            display,
            text.count("\n", 0, bad.start()) + 1,
            None,
            f"not valid YAML (character U+{ord(bad.group()):04X} is not allowed in YAML)",
            'remove it, or write it as an escape ("\\x00") in a double-quoted string',
        )
    try:
        return load_yaml(text)
    except LimitError as exc:
        raise error_type.at(display, exc.line, None, exc.what, exc.fix) from None
    except DuplicateKeyError as exc:
        raise error_type.at(
            display,
            exc.line,
            ".".join(exc.path),
            f"duplicate key (first on line {exc.first_line})",
            "remove one of them",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        parts = (getattr(exc, "context", None), getattr(exc, "problem", None))
        problem = " ".join(", ".join(str(p) for p in parts if p).split()) or str(exc)
        if "maximum nesting depth" in problem:  # libyaml's own bound (1000 levels)
            problem = f"nested more than {limits.NESTING_DEPTH} levels deep"
            raise error_type.at(display, line, None, problem, "flatten the structure") from None
        if len(problem) > 200:
            problem = problem[:199] + "…"
        raise error_type.at(
            display, line, None, f"not valid YAML ({problem})", "fix the YAML syntax"
        ) from None


# What YAML 1.1 does not allow in a stream (PyYAML's Reader.NON_PRINTABLE): checked first,
# so that the error names the line whichever parser (libyaml or Python) runs.
_NOT_YAML_RE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def read_limited(path: Path, limit: int) -> bytes:
    """At most `limit` + 1 bytes of the file: enough to tell that it is over `limit`,
    never a whole 10 GB file in memory. Raises OSError."""
    with path.open("rb") as file:
        return file.read(limit + 1)


def _smaller(limit: int) -> str:
    return f"keep the file under {limits.size(limit)} (see Limits in the README)"


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
        # A key is outside text: a line break in it must not break the one-line message.
        key = _KEY_CONTROL.sub(lambda m: repr(m.group())[1:-1], ".".join(path))
        return self.error_type.at(self.display, line, key or None, what, fix)

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


_KEY_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


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
