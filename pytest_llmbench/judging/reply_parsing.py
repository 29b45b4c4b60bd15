"""Reading a judge's reply: the chat-completions body, then the scores in its text.

Judges wrap JSON in code fences, add prose around it, quote numbers, think aloud before
answering, or answer on the wrong scale. What can be read without guessing is read;
anything else raises `UnusableReply`, so the caller retries or leaves the sample unscored,
never scores it 0.

Two rules keep a score the judge did not give out of the record:

- only the final answer is read: a reasoning block (`<think>`, `<thinking>`,
  `<reasoning>`, closed or not) and a `reasoning_content` field are the judge's drafts;
- a reply with two different candidate score objects (a restated format with zeros, then
  the real one) is ambiguous, not "the first one".
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pytest_llmbench.benchmark.dataset import json_type

__all__ = [
    "ParsedReply",
    "Scale",
    "UnusableReply",
    "bound_text",
    "check_score",
    "extract_message",
    "extract_reasoning_content",
    "extract_usage",
    "parse_reply",
    "parse_scores",
    "split_reasoning",
    "usage_problem",
]

Scale = tuple[float, float]  # (min, max) of a prompt's declared `scale:`, min < max

# A score this close outside its scale is float noise from the judge (1.0000000001).
_TOLERANCE = 1e-9
_EXCERPT = 60
# A final answer is one small JSON object; scanning a huge one for objects costs time for
# nothing (each "{" starts a decode).
MAX_ANSWER_CHARS = 20_000
# What a sample keeps of the judge's words, in the payload, the record and the cache.
TEXT_LIMIT = 2_000
# The most tokens one call is believed to use; a reply claiming more has unknown usage.
MAX_TOKENS = 10**9
_SLACK = 64  # read past a cut, longer than any secret piece redaction looks for

# The slash alone in an optional group: "<\s*/?\s*" backtracks between its two runs of
# spaces, quadratic in a long run after a "<" (seconds for a few MB of reply).
_TAG = re.compile(r"<\s*(?:(/)\s*)?(?:think|thinking|reasoning)\s*>", re.IGNORECASE)
_OBJECT_START = re.compile(r"\{\s*[\"}]")
_FENCE_LINE = re.compile(r"^[ \t]*```[A-Za-z0-9_-]*[ \t]*$", re.MULTILINE)
# Keys of a score object that hold the judge's explanation rather than a score.
_RATIONALE_KEYS = frozenset(
    {"reasoning", "rationale", "explanation", "justification", "comment", "comments"}
    | {"feedback", "notes", "note", "analysis", "reason", "reasons"}
)


class UnusableReply(Exception):
    """The judge answered, but not with scores that can be used; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ParsedReply:
    """The scores of one reply, and the judge's own words beside them (full length)."""

    scores: dict[str, float]  # each requested metric, normalised to 0..1
    raw_scores: dict[str, float] | None  # as written, on the declared scale; None without one
    reasoning: str  # reasoning blocks and reasoning_content, else the prose around the JSON


def parse_scores(text: str, metrics: Sequence[str], scale: Scale | None = None) -> dict[str, float]:
    """The scores for `metrics` in a judge's reply text, each a float in 0..1."""
    return parse_reply(text, metrics, scale=scale).scores


def parse_reply(
    text: str,
    metrics: Sequence[str],
    *,
    scale: Scale | None = None,
    reasoning_content: str = "",
) -> ParsedReply:
    """Read the final answer of `text` (the message content) for `metrics`.

    `reasoning_content` (the message field some servers put a reasoning model's thoughts
    in) is kept as reasoning and never read for scores.
    """
    thought, answer, unclosed = _split(text)
    if not answer.strip():
        if unclosed:
            raise UnusableReply(
                "the reply is all reasoning: its reasoning block is never closed "
                "(is max_tokens too low for the judge to finish?)"
            )
        if thought.strip() or reasoning_content.strip():
            raise UnusableReply("the reply has no final answer after its reasoning")
        raise UnusableReply("empty reply")
    if len(answer) > MAX_ANSWER_CHARS:
        raise UnusableReply(
            f"the final answer is {len(answer):,} characters; expected one JSON object"
        )
    objects = _scan(answer)
    if not objects:
        raise UnusableReply(f"no JSON object in the reply: {_excerpt(answer)}")
    wanted = {metric.lower(): metric for metric in metrics}
    candidates: list[tuple[dict[str, object], int, int, Mapping[str, object]]] = []
    for obj, start, end in objects:
        table = _score_table(obj, wanted)
        if any(key in table for key in wanted):
            candidates.append((obj, start, end, table))
    distinct: list[dict[str, object]] = []
    for _, _, _, table in candidates:
        asked = {key: table[key] for key in wanted if key in table}
        if asked not in distinct:  # one object repeated identically is one answer
            distinct.append(asked)
    if len(distinct) > 1:
        shown = " and ".join(_short_json(asked) for asked in distinct[:2])
        more = f" (and {len(distinct) - 2} more)" if len(distinct) > 2 else ""
        raise UnusableReply(
            f"ambiguous reply: {len(distinct)} different score objects, {shown}{more}"
        )
    if not distinct:
        raise UnusableReply(f"reply has no score for {', '.join(map(_quote, metrics))}")
    table = candidates[0][3]
    missing = [metric for key, metric in wanted.items() if key not in table]
    if missing:
        raise UnusableReply(f"reply has no score for {', '.join(map(_quote, missing))}")
    scores: dict[str, float] = {}
    raw: dict[str, float] = {}
    for key, metric in wanted.items():
        scores[metric], raw[metric] = check_score(metric, table[key], scale)
    words = [part for part in (reasoning_content.strip(), thought.strip()) if part]
    if not words:
        words = _prose(answer, candidates)
    return ParsedReply(scores, raw if scale is not None else None, "\n\n".join(words))


def split_reasoning(text: str) -> tuple[str, str]:
    """(reasoning, final answer): the answer is the text after the last reasoning block.

    A closing tag with no opening one (the chat template opened the block) makes all
    before it reasoning; an unclosed block runs to the end, so its answer is what came
    before it. Text outside blocks that is not the final answer counts as reasoning.
    """
    thought, answer, _ = _split(text)
    return thought, answer


def _split(text: str) -> tuple[str, str, bool]:
    """split_reasoning(), and whether a block is left open at the end."""
    segments: list[tuple[bool, str]] = []  # (inside a block, text)
    reasoning_before = 0  # segments before this index are reasoning whatever their flag
    depth = 0
    pos = 0
    for match in _TAG.finditer(text):
        segments.append((depth > 0, text[pos : match.start()]))
        if not match.group(1):
            depth += 1
        elif depth > 0:
            depth -= 1
        else:
            reasoning_before = len(segments)
        pos = match.end()
    if not segments:
        return "", text, False
    segments.append((depth > 0, text[pos:]))
    segments = [(inside or i < reasoning_before, part) for i, (inside, part) in enumerate(segments)]
    outside = [i for i, (inside, _) in enumerate(segments) if not inside]
    answer_at = outside[-1] if outside else -1
    answer = segments[answer_at][1] if outside else ""
    thought = [
        part.strip() for i, (_, part) in enumerate(segments) if i != answer_at and part.strip()
    ]
    return "\n\n".join(thought), answer, depth > 0


def check_score(metric: str, raw: object, scale: Scale | None) -> tuple[float, float]:
    """(score in 0..1, value as written) of one metric's value; UnusableReply otherwise.
    Live replies and cache entries are both checked here, so they pass the same tests."""
    low, high = scale if scale is not None else (0.0, 1.0)
    value: float
    if isinstance(raw, bool):
        raise UnusableReply(f"{metric}={json.dumps(raw)} is not a number")
    if isinstance(raw, (int, float)):
        try:
            value = float(raw)
        except OverflowError:
            value = math.inf
        shown = repr(raw)
        if len(shown) > _EXCERPT:  # a number of hundreds of digits, in a reason
            shown = f"{shown[:_EXCERPT - 3]}..."
    elif isinstance(raw, str):
        shown = raw.strip()
        value = _number_in_string(metric, shown, scale)
    else:
        raise UnusableReply(f"{metric}={_short_json(raw)} is not a number")
    if not math.isfinite(value):
        raise UnusableReply(f"{metric}={shown} is not a finite number")
    noise = _TOLERANCE * (high - low)
    if low - noise <= value < low:
        value = low
    elif high < value <= high + noise:
        value = high
    if not low <= value <= high:
        raise UnusableReply(f"{metric}={shown} is outside {low:g}..{high:g}")
    if scale is None:
        return value, value
    # Clamped: (v - low) / (high - low) may round a hair past 1 for a value at the top.
    return min(1.0, max(0.0, (value - low) / (high - low))), value


def extract_message(body: object) -> tuple[str, int, int]:
    """(content, prompt_tokens, completion_tokens) from a chat.completions JSON body."""
    if not isinstance(body, Mapping):
        raise UnusableReply(f"response body is a JSON {json_type(body)}, not an object")
    message = _message(body)
    if message is None:
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices:
            raise UnusableReply("response body has no choices")
        raise UnusableReply("response body has no choices[0].message")
    content = message.get("content")
    if not isinstance(content, str):
        if extract_reasoning_content(body).strip():
            raise UnusableReply(
                "the reply holds only reasoning (content is null); "
                "is max_tokens too low for the judge to finish?"
            )
        # null content: a refusal or a tool call, neither of which carries scores.
        raise UnusableReply(f"choices[0].message.content is {json_type(content)}, not text")
    prompt_tokens, completion_tokens = extract_usage(body)
    return content, prompt_tokens, completion_tokens


def extract_reasoning_content(body: object) -> str:
    """The message's reasoning field (vLLM, DeepSeek: `reasoning_content`; others:
    `reasoning`), or "" when there is none or it is not text."""
    message = _message(body) if isinstance(body, Mapping) else None
    if message is None:
        return ""
    for name in ("reasoning_content", "reasoning"):
        value = message.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def extract_usage(body: object) -> tuple[int, int]:
    """(prompt_tokens, completion_tokens) from a chat.completions body; 0 (unknown) when
    absent or not believable (see usage_problem)."""
    usage = body.get("usage") if isinstance(body, Mapping) else None
    if not isinstance(usage, Mapping):
        return 0, 0
    return _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))


def usage_problem(body: object) -> str | None:
    """Why the body's token counts are treated as unknown, or None when they are usable
    (or simply absent): each must be a whole number from 0 to MAX_TOKENS."""
    usage = body.get("usage") if isinstance(body, Mapping) else None
    if usage is None:
        return None
    if not isinstance(usage, Mapping):
        return f"usage is a JSON {json_type(usage)}, not an object"
    for name in ("prompt_tokens", "completion_tokens"):
        value = usage.get(name)
        if value is not None and _count(value) == 0 and value != 0:
            shown = _short_json(value) if not isinstance(value, int) else "out of range"
            return f"usage.{name} is {shown}; expected a whole number from 0 to {MAX_TOKENS:,}"
    return None


def bound_text(
    text: str, limit: int = TEXT_LIMIT, clean: Callable[[str], str] | None = None
) -> str:
    """`text` in at most `limit` characters: its head and tail with a marker between (the
    end of a reasoning or a reply is where the verdict usually is).

    `clean` (redaction) runs on the kept parts only, each read a little past the cut so a
    secret across it is still seen whole: a long reasoning costs no more than a short one.
    """
    # A lone surrogate (a JSON "\\ud800" escape in a reply) is not text any file can hold.
    text = text.strip().encode("utf-8", "replace").decode("utf-8")
    if len(text) <= limit:
        return clean(text) if clean is not None else text
    # Sized for the longest marker (all of the text cut), so the result never passes limit.
    keep = max(0, limit - len(_cut_marker(len(text))))
    head_n = keep // 2
    tail_n = keep - head_n
    head = text[: head_n + _SLACK]
    tail = text[max(head_n, len(text) - tail_n - _SLACK) :]
    if clean is not None:
        head, tail = clean(head), clean(tail)
    tail = tail[len(tail) - tail_n :] if tail_n else ""
    return head[:head_n] + _cut_marker(len(text) - keep) + tail


def _cut_marker(count: int) -> str:
    return f"\n[… {count:,} characters cut …]\n"


def _message(body: Mapping[str, object]) -> Mapping[str, object] | None:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        return None
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, Mapping) else None
    return message if isinstance(message, Mapping) else None


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return value if 0 < value <= MAX_TOKENS else 0


def _scan(text: str) -> list[tuple[dict[str, object], int, int]]:
    """Every top-level JSON object in the text (fenced or not), with its span, in order."""
    decoder = json.JSONDecoder()
    found: list[tuple[dict[str, object], int, int]] = []
    pos = 0
    # Only a "{" followed by a key or "}" can start an object: each failed decode costs
    # O(position) (the error computes its line), so hopeless starts are skipped unread.
    while (start := _OBJECT_START.search(text, pos)) is not None:
        try:
            obj, end = decoder.raw_decode(text, start.start())
        except (ValueError, RecursionError):
            # ValueError covers broken JSON and over-long integers; deep nesting recurses.
            pos = start.start() + 1
            continue
        if isinstance(obj, dict):
            found.append((obj, start.start(), end))
        pos = end
    return found


def _lowered(obj: Mapping[str, object], wanted: Mapping[str, str]) -> dict[str, object]:
    """`obj` keyed by lower-cased key; one metric given twice (`coverage` and `Coverage`)
    with different values is ambiguous."""
    table: dict[str, object] = {}
    for key, value in obj.items():
        low = key.strip().lower()
        if low in table and low in wanted and table[low] != value:
            raise UnusableReply(
                f"ambiguous reply: {_quote(wanted[low])} is given twice with different values"
            )
        table.setdefault(low, value)
    return table


def _score_table(obj: dict[str, object], wanted: Mapping[str, str]) -> Mapping[str, object]:
    # {"scores": {...}} is accepted as a convenience, unless the metrics sit at the top.
    table = _lowered(obj, wanted)
    inner = table.get("scores")
    if isinstance(inner, Mapping) and not all(key in table for key in wanted):
        return _lowered(inner, wanted)
    return table


def _prose(
    answer: str, candidates: Sequence[tuple[dict[str, object], int, int, Mapping[str, object]]]
) -> list[str]:
    """The judge's words around the score object, and any explanation inside it."""
    pieces: list[str] = []
    pos = 0
    for _, start, end, _ in candidates:
        pieces.append(answer[pos:start])
        pos = end
    pieces.append(answer[pos:])
    around = " ".join(p.strip() for p in _FENCE_LINE.sub("", "\0".join(pieces)).split("\0"))
    around = around.strip()
    words = [around] if around else []
    for key, value in candidates[0][3].items():
        if key in _RATIONALE_KEYS and isinstance(value, str) and value.strip():
            words.append(value.strip())
    return words


def _number_in_string(metric: str, text: str, scale: Scale | None) -> float:
    percent = text.endswith("%")
    digits = text[:-1].strip() if percent else text
    try:
        value = float(digits)
    except ValueError:
        raise UnusableReply(f"{metric}={_short_json(text)} is not a number") from None
    if not percent:
        return value
    if scale is None:
        return value / 100.0
    if scale == (0.0, 100.0):
        return value  # "85%" on a 0..100 scale is 85
    low, high = scale
    raise UnusableReply(f"{metric}={text} is a percentage; the prompt's scale is {low:g}..{high:g}")


def _quote(name: str) -> str:
    return f'"{name}"'


def _short_json(value: object) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 3] + "..."


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= _EXCERPT else flat[: _EXCERPT - 3] + "...")
