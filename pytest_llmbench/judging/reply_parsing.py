"""Reading a judge's reply: the chat-completions body, then the scores in its text.

Judges wrap JSON in code fences, add prose around it, quote numbers, or answer on the
wrong scale. What can be read without guessing is read; anything else raises
`UnusableReply`, so the caller retries or leaves the sample unscored, never scores it 0.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence

__all__ = ["UnusableReply", "extract_message", "extract_usage", "parse_scores"]

# A score this close outside 0..1 is float noise from the judge (1.0000000001), not a scale.
_TOLERANCE = 1e-9
_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\r?\n?(.*?)```", re.DOTALL)
_EXCERPT = 60


class UnusableReply(Exception):
    """The judge answered, but not with scores that can be used; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_scores(text: str, metrics: Sequence[str]) -> dict[str, float]:
    """The scores for `metrics` in a judge's reply text, each a float in 0..1."""
    if not text.strip():
        raise UnusableReply("empty reply")
    objects = _json_objects(text)
    if not objects:
        raise UnusableReply(f"no JSON object in the reply: {_excerpt(text)}")
    # The first object holding every metric wins; otherwise the first object explains why.
    for obj in objects:
        table = _score_table(obj, metrics)
        if table is not None:
            return {metric: _score(metric, table[metric]) for metric in metrics}
    first = _nested(objects[0], metrics)
    missing = [metric for metric in metrics if metric not in first]
    raise UnusableReply(f"reply has no score for {', '.join(map(_quote, missing))}")


def extract_message(body: object) -> tuple[str, int, int]:
    """(content, prompt_tokens, completion_tokens) from a chat.completions JSON body."""
    if not isinstance(body, Mapping):
        raise UnusableReply(f"response body is a JSON {_json_type(body)}, not an object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise UnusableReply("response body has no choices")
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, Mapping) else None
    if not isinstance(message, Mapping):
        raise UnusableReply("response body has no choices[0].message")
    content = message.get("content")
    if not isinstance(content, str):
        # null content: a refusal or a tool call, neither of which carries scores.
        raise UnusableReply(f"choices[0].message.content is {_json_type(content)}, not text")
    prompt_tokens, completion_tokens = extract_usage(body)
    return content, prompt_tokens, completion_tokens


def extract_usage(body: object) -> tuple[int, int]:
    """(prompt_tokens, completion_tokens) from a chat.completions body; 0 when absent."""
    usage = body.get("usage") if isinstance(body, Mapping) else None
    if not isinstance(usage, Mapping):
        return 0, 0
    return _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _json_objects(text: str) -> list[dict[str, object]]:
    """Every top-level JSON object in the text, fenced blocks first, in order."""
    sources = [m.group(1) for m in _FENCE.finditer(text)]
    sources.append(text)
    found: list[dict[str, object]] = []
    for source in sources:
        found.extend(_scan(source))
    return found


def _scan(text: str) -> list[dict[str, object]]:
    decoder = json.JSONDecoder()
    found: list[dict[str, object]] = []
    start = text.find("{")
    while start != -1:
        try:
            obj, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            # ValueError covers broken JSON and over-long integers; deep nesting recurses.
            start = text.find("{", start + 1)
            continue
        if isinstance(obj, dict):
            found.append(obj)
        start = text.find("{", end)
    return found


def _nested(obj: dict[str, object], metrics: Sequence[str]) -> Mapping[str, object]:
    # {"scores": {...}} is accepted as a convenience, unless the metrics sit at the top.
    inner = obj.get("scores")
    if isinstance(inner, Mapping) and not all(metric in obj for metric in metrics):
        return inner
    return obj


def _score_table(obj: dict[str, object], metrics: Sequence[str]) -> Mapping[str, object] | None:
    table = _nested(obj, metrics)
    return table if all(metric in table for metric in metrics) else None


def _score(metric: str, raw: object) -> float:
    value: float
    if isinstance(raw, bool):
        raise UnusableReply(f"{metric}={json.dumps(raw)} is not a number")
    if isinstance(raw, (int, float)):
        try:
            value = float(raw)
        except OverflowError:
            value = math.inf
        shown = repr(raw)
    elif isinstance(raw, str):
        shown = raw.strip()
        value = _number_in_string(metric, shown)
    else:
        raise UnusableReply(f"{metric}={_short_json(raw)} is not a number")
    if not math.isfinite(value):
        raise UnusableReply(f"{metric}={shown} is not a finite number")
    if -_TOLERANCE <= value < 0.0:
        return 0.0
    if 1.0 < value <= 1.0 + _TOLERANCE:
        return 1.0
    if not 0.0 <= value <= 1.0:
        raise UnusableReply(f"{metric}={shown} is outside 0..1")
    return value


def _number_in_string(metric: str, text: str) -> float:
    percent = text.endswith("%")
    digits = text[:-1].strip() if percent else text
    try:
        value = float(digits)
    except ValueError:
        raise UnusableReply(f"{metric}={_short_json(text)} is not a number") from None
    return value / 100.0 if percent else value


def _quote(name: str) -> str:
    return f'"{name}"'


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _short_json(value: object) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 3] + "..."


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= _EXCERPT else flat[: _EXCERPT - 3] + "...")
