"""JSON read back checked against the schema's TypedDicts: a run record (a baseline, a
shard, a folder of history) is trusted only once every key a reader reads has the type
``results/schema.py`` says, so a damaged file is one line naming its key, never a
traceback later (after every sample has run and been paid for).

``check(value, RunRecord)`` walks the value and the type together: required keys present,
each value of its declared type (``Literal`` choices, ``X | None``, lists, string-keyed
dicts, nested TypedDicts), whole numbers within ``MAX_INT`` and not negative, other
numbers finite and within ``MAX_NUMBER``, and values typed ``Any`` (hook extras) no deeper
than ``MAX_DEPTH``. Keys the schema does not name are left alone (no reader reads them).
The first problem found is raised as ``Invalid`` with its key path
(``scenarios.digest.samples[3].scores.accuracy``).
"""

from __future__ import annotations

import functools
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

from pytest_llmbench.results.schema import RunBlock, RunRecord
from pytest_llmbench.results.statistics import AGGREGATES

__all__ = [
    *("MAX_DEPTH", "MAX_INT", "MAX_NUMBER", "Invalid"),
    *("check", "check_record", "check_variants"),
]

MAX_INT = 2**53  # the largest whole number every JSON reader keeps exactly
# The largest magnitude of any other number: far past any score, latency or cost, and far
# enough below float's range that sums of squares over a scenario cannot overflow.
MAX_NUMBER = 1e15
MAX_DEPTH = 32  # of a value typed Any (a hook's extra): lists and objects within lists and objects
# Keys whose strings are one of a few words, wherever they sit.
_CHOICES: dict[str, tuple[str, ...]] = {
    "better": ("higher", "lower"),
    "aggregate": (*AGGREGATES, "corpus"),
}
_PAIRS = frozenset({"ci95"})  # [low, high]
_NAME_CHARS = 40  # of a key named in a message


class Invalid(Exception):
    """The value at ``key`` (a dotted path, "" for the whole) is not what the schema says."""

    def __init__(self, key: str, what: str) -> None:
        super().__init__(f"{key}: {what}" if key else what)
        self.key, self.what = key, what


def check_record(value: object) -> None:
    """``check`` of a whole run record: the schema's ``RunRecord``, and its open ``run``
    block against ``RunBlock`` (what its readers read of it)."""
    check(value, RunRecord)
    assert isinstance(value, dict)
    check(value.get("run", {}), RunBlock, "run")
    for name, scenario in value["scenarios"].items():
        if "variants" in scenario:
            check_variants(scenario, _join("scenarios", name))


def check_variants(scenario: Mapping[str, Any], key: str) -> None:
    """What the types alone cannot say of ``scenarios.<name>.variants`` (already checked
    against ``VariantsRecord``): its names agree with each other and with the samples',
    and a sample appears at most once per variant."""
    block = scenario["variants"]
    where = _join(key, "variants")
    names = block["variants"]
    if sorted(block["order"]) != sorted(names) or len(set(block["order"])) != len(names):
        raise Invalid(_join(where, "order"), "expected each variant's name once")
    for field, chosen in (("reference", [block["reference"]]), ("gate", block["gate"])):
        for index, name in enumerate(chosen):
            if name not in names:
                at = _join(where, field) + (f"[{index}]" if field == "gate" else "")
                raise Invalid(at, f"{_brief(name)} is not one of the variants")
    for index, difference in enumerate(block["differences"]):
        for field in ("variant", "against"):
            if difference[field] not in names:
                at = _join(f"{where}.differences[{index}]", field)
                raise Invalid(at, f"{_brief(difference[field])} is not one of the variants")
    seen: set[tuple[str, str]] = set()
    for index, sample in enumerate(scenario["samples"]):
        at = f"{_join(key, 'samples')}[{index}]"
        variant = sample.get("variant")
        if variant is None:
            raise Invalid(_join(at, "variant"), "missing (the scenario has variants)")
        if variant not in names:
            raise Invalid(_join(at, "variant"), f"{_brief(variant)} is not one of the variants")
        if (sample["id"], variant) in seen:
            raise Invalid(at, f"id {_brief(sample['id'])} appears twice for variant {variant}")
        seen.add((sample["id"], variant))


def check(value: object, hint: Any, key: str = "") -> None:
    """Raise ``Invalid`` at the first place ``value`` is not of type ``hint``."""
    origin = typing.get_origin(hint)
    if hint is Any:
        _check_depth(value, key, MAX_DEPTH)
    elif typing.is_typeddict(hint):
        _check_typeddict(value, hint, key)
    elif origin is Literal:
        choices = typing.get_args(hint)
        if not any(value == c and type(value) is type(c) for c in choices):
            raise Invalid(
                key, f"expected one of {', '.join(map(_shown, choices))}, not {_brief(value)}"
            )
    elif origin is Union or origin is types.UnionType:
        _check_union(value, typing.get_args(hint), key)
    elif origin is list:
        if not isinstance(value, list):
            raise Invalid(key, f"expected a list, not {_brief(value)}")
        (item,) = typing.get_args(hint)
        for index, element in enumerate(value):
            check(element, item, f"{key}[{index}]")
    elif origin is dict:
        if not isinstance(value, dict):
            raise Invalid(key, f"expected an object, not {_brief(value)}")
        _, item = typing.get_args(hint)
        for name, element in value.items():
            check(element, item, _join(key, name))
    else:
        _check_scalar(value, hint, key)


def _check_typeddict(value: object, hint: Any, key: str) -> None:
    if not isinstance(value, dict):
        raise Invalid(key, f"expected an object, not {_brief(value)}")
    for name in sorted(hint.__required_keys__):
        if name not in value:
            raise Invalid(_join(key, name), "missing")
    for name, field in _hints(hint).items():
        if name in value:
            inner = _join(key, name)
            check(value[name], field, inner)
            if name in _CHOICES and isinstance(value[name], str):
                check(value[name], Literal[_CHOICES[name]], inner)
            if name in _PAIRS and isinstance(value[name], list) and len(value[name]) != 2:
                raise Invalid(inner, f"expected [low, high], not {_brief(value[name])}")


def _check_union(value: object, options: tuple[Any, ...], key: str) -> None:
    if value is None and type(None) in options:
        return
    rest = [o for o in options if o is not type(None)]
    problems: list[Invalid] = []
    for option in rest:
        try:
            check(value, option, key)
        except Invalid as problem:
            problems.append(problem)
        else:
            return
    # One typed option (float | None): its own words say more than a list of types.
    if len(rest) == 1 and problems[0].key != key:
        raise problems[0]
    shown = " or ".join(_type_name(o) for o in options)
    raise Invalid(key, f"expected {shown}, not {_brief(value)}")


def _check_scalar(value: object, hint: Any, key: str) -> None:
    if hint is type(None):
        if value is not None:
            raise Invalid(key, f"expected null, not {_brief(value)}")
    elif hint is bool:
        if not isinstance(value, bool):
            raise Invalid(key, f"expected true or false, not {_brief(value)}")
    elif hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(key, f"expected a whole number, not {_brief(value)}")
        if not 0 <= value <= MAX_INT:
            raise Invalid(key, f"expected a whole number from 0 to 2**53, not {_brief(value)}")
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Invalid(key, f"expected a number, not {_brief(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise Invalid(key, f"expected a finite number, not {_brief(value)}")
        if abs(value) > MAX_NUMBER:  # an int is compared exactly, however long
            raise Invalid(key, f"expected a number within ±1e15, not {_brief(value)}")
    elif hint is str:
        if not isinstance(value, str):
            raise Invalid(key, f"expected text, not {_brief(value)}")
    else:  # pragma: no cover - a schema type this module does not know is a bug here
        raise TypeError(f"validation: unsupported type {hint!r} at {key or 'top level'}")


def _check_depth(value: object, key: str, left: int) -> None:
    stack: list[tuple[object, str, int]] = [(value, key, left)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth <= 0:
                raise Invalid(where, f"nested deeper than {MAX_DEPTH} levels")
            children = item.items() if isinstance(item, dict) else enumerate(item)
            stack.extend((v, f"{where}[{k!r}]", depth - 1) for k, v in children)
        elif isinstance(item, float) and not math.isfinite(item):
            raise Invalid(where, f"expected a finite number, not {_brief(item)}")
        elif (
            isinstance(item, (int, float)) and not isinstance(item, bool) and abs(item) > MAX_NUMBER
        ):
            raise Invalid(where, f"expected a number within ±1e15, not {_brief(item)}")


@functools.cache
def _hints(hint: Any) -> Mapping[str, Any]:
    return typing.get_type_hints(hint)


def _join(key: str, name: object) -> str:
    text = str(name)
    if len(text) > _NAME_CHARS:
        text = text[: _NAME_CHARS - 3] + "..."
    if text.isidentifier() or text.replace("-", "_").replace(".", "_").isidentifier():
        return f"{key}.{text}" if key else text
    return f"{key}[{text!r}]"


def _type_name(hint: Any) -> str:
    if hint is type(None):
        return "null"
    if typing.is_typeddict(hint) or typing.get_origin(hint) is dict:
        return "an object"
    if typing.get_origin(hint) is list:
        return "a list"
    if typing.get_origin(hint) is Literal:
        return " or ".join(map(_shown, typing.get_args(hint)))
    return {bool: "true or false", int: "a whole number", float: "a number", str: "text"}.get(
        hint, str(hint)
    )


def _shown(choice: object) -> str:
    return f'"{choice}"' if isinstance(choice, str) else str(choice).lower()


def _brief(value: object) -> str:
    """The value in a few characters: its type, and the value itself when short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        digits = len(str(abs(value))) if abs(value) < 10**100 else None
        if digits is not None and digits <= 20:
            return str(value)
        return f"a {digits or 'more than 100'}-digit number"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        short = value if len(value) <= 30 else value[:27] + "..."
        return "text " + repr(short).encode("ascii", "backslashreplace").decode("ascii")
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
