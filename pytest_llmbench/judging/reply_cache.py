"""Judge replies on disk (a SqliteStore: shared by every process of a run, xdist workers
included, and by runs that share a cache directory). Only scored replies are stored, so a
failure or an unusable reply is asked again next time.

The cache never invents a score: every entry is checked on read as a live reply is (its
schema version and checksum, exactly the requested metrics, each a finite number in range
on the prompt's scale); one that fails is dropped and asked again. A file SQLite cannot
read is moved aside and a fresh cache started, with a note for the terminal.

A warm cache this process may not write (a read-only mount, another user's files) is
still read, each entry checked the same way, and nothing is stored or dropped in it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_llmbench.benchmark.judge_config import JudgeConfig
from pytest_llmbench.judging.chat_completions import chat_completions_url
from pytest_llmbench.judging.reply_parsing import TEXT_LIMIT, Scale, UnusableReply, check_score
from pytest_llmbench.judging.sqlite_store import BadEntry, SqliteStore, stored_object

__all__ = [
    "ENTRY_VERSION",
    "FILENAME",
    "BadEntry",
    "CachedReply",
    "JudgeCache",
    "cache_key",
    "decode_entry",
    "dropped_note",
    "encode_entry",
]

KEY_VERSION = 1
ENTRY_VERSION = 2  # 1: {"scores": {...}} with no checksum, read as a bad entry
FILENAME = "judge-replies.sqlite3"

# A stored entry is scores plus two bounded texts; anything much larger is not one.
_MAX_ENTRY_CHARS = 16 * TEXT_LIMIT


def cache_key(
    judge: JudgeConfig,
    messages: Sequence[Mapping[str, str]],
    metrics: Sequence[str],
    prompt_ref: str,
    prompt_sha256: str,
    repeat: int = 0,
) -> str:
    # A prompt's own temperature and scale are covered by its sha256 (they live in the file).
    """Everything that can change the reply, and nothing else (not the API key). `repeat`
    (``repeats:``) tells a sample's K judgements apart; repeat 0 has no part of its own, so
    the key of a run without repeats, and of every first repeat, is what it always was."""
    parts: dict[str, Any] = {
        "v": KEY_VERSION,
        "url": chat_completions_url(judge.base_url),
        "model": judge.model,
        "temperature": judge.temperature,
        "max_tokens": judge.max_tokens,
        "structured_output": judge.structured_output,
        "messages": list(messages),
        "metrics": sorted(metrics),
        "prompt": prompt_ref,
        "prompt_sha256": prompt_sha256,
    }
    if judge.custom:  # a user's class: its import path (or entry point) and its options
        parts["kind"] = judge.kind
        parts["options"] = judge.options
    if repeat:
        parts["repeat"] = repeat
    blob = json.dumps(
        parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=repr
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# -- entries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedReply:
    """What a scored reply leaves for the next run: its scores and the judge's words."""

    scores: dict[str, float]  # normalised to 0..1
    raw_scores: dict[str, float] | None = None  # as written, with a declared scale
    reasoning: str = ""  # bounded, as the payload carries it
    raw_reply: str = ""


def encode_entry(reply: CachedReply) -> str:
    """The stored text of an entry: the reply with its version and a checksum over it."""
    entry: dict[str, Any] = {"scores": reply.scores}
    if reply.raw_scores is not None:
        entry["raw_scores"] = reply.raw_scores
    if reply.reasoning:
        entry["reasoning"] = _unicode(reply.reasoning)
    if reply.raw_reply:
        entry["raw_reply"] = _unicode(reply.raw_reply)
    return json.dumps(
        {"v": ENTRY_VERSION, "sha256": _digest(entry), "entry": entry},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )


def decode_entry(value: object, metrics: Sequence[str], scale: Scale | None) -> CachedReply:
    """The reply stored as `value`, checked as a live reply would be; BadEntry otherwise."""
    data = stored_object(value, _MAX_ENTRY_CHARS, ENTRY_VERSION, unversioned=1)  # v1: no "v"
    entry = data.get("entry")
    if set(data) != {"v", "sha256", "entry"} or not isinstance(entry, dict):
        raise BadEntry("entry has the wrong shape")
    if data["sha256"] != _digest(entry):
        raise BadEntry("checksum mismatch")
    unknown = set(entry) - {"scores", "raw_scores", "reasoning", "raw_reply"}
    if unknown:
        raise BadEntry(f"unknown fields {sorted(unknown)}")
    stored = _numbers(entry.get("scores"), metrics, "scores")
    raw_scores: dict[str, float] | None = None
    try:
        if scale is None:
            if entry.get("raw_scores") is not None:
                raise BadEntry("raw_scores without a declared scale")
            for metric in metrics:
                check_score(metric, stored[metric], None)
        else:
            raw = _numbers(entry.get("raw_scores"), metrics, "raw_scores")
            for metric in metrics:
                normalised, _ = check_score(metric, raw[metric], scale)
                if not math.isclose(normalised, stored[metric], rel_tol=0, abs_tol=1e-9):
                    raise BadEntry(f"{metric}: score and raw score disagree")
            raw_scores = {metric: float(raw[metric]) for metric in metrics}
    except UnusableReply as exc:
        raise BadEntry(exc.reason) from None
    scores = {metric: float(stored[metric]) for metric in metrics}
    texts: dict[str, str] = {}
    for name in ("reasoning", "raw_reply"):
        text = entry.get(name, "")
        if not isinstance(text, str) or len(text) > TEXT_LIMIT:
            raise BadEntry(f"{name} is not text of at most {TEXT_LIMIT} characters")
        if not _is_unicode(text):
            raise BadEntry(f"{name} holds a lone surrogate, not text")
        texts[name] = text
    return CachedReply(scores, raw_scores, texts["reasoning"], texts["raw_reply"])


def _digest(entry: Mapping[str, Any]) -> str:
    blob = json.dumps(entry, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    # "surrogatepass": a lone surrogate (a JSON "\\ud800" escape) must not raise here.
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def _unicode(text: str) -> str:
    """``text`` with any lone surrogate replaced: what SQLite and the record can hold."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _numbers(value: object, metrics: Sequence[str], name: str) -> dict[str, int | float]:
    """Exactly `metrics`, each a JSON number as stored (a live reply may quote numbers; an
    entry written by this module never does)."""
    if not isinstance(value, dict) or set(value) != set(metrics):
        raise BadEntry(f"{name} are not exactly the requested metrics")
    for metric in metrics:
        number = value[metric]
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise BadEntry(f"{name}.{metric} is not a number")
    return value


# -- the store ----------------------------------------------------------------------------


class JudgeCache(SqliteStore):
    """The reply store of one process (see SqliteStore: nothing raises for a locked or
    unreadable file)."""

    FILENAME = FILENAME
    TABLE = "replies"
    LABEL = "judge cache"
    HOLDS = "judge replies"
    ENTRIES = "replies"

    def get(
        self, key: str, metrics: Sequence[str], scale: Scale | None = None
    ) -> CachedReply | None:
        """The stored reply for `key`, if it passes the checks a live reply must pass."""
        return self._get(key, lambda value: decode_entry(value, metrics, scale))

    def put(self, key: str, reply: CachedReply) -> None:
        self._put(key, encode_entry(reply))


def dropped_note(count: int, display: str) -> str:
    """The terminal's line for `count` entries dropped (over every process of the run)."""
    entries = "entry that failed its check" if count == 1 else "entries that failed their checks"
    return f"dropped {count} judge cache {entries} in {display}; asked the judge again"
