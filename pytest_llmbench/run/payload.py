"""The one dict that crosses the process boundary: built here, read here.

A sample's result rides on its test report as ``report.llmbench``; xdist serializes the
report's attributes as builtins, so nothing but str/int/float/bool/None/list/dict goes in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeGuard, cast

from pytest_llmbench.judging.reply_parsing import bound_text
from pytest_llmbench.judging.result import JudgeResult
from pytest_llmbench.results.schema import (
    JudgeCallStats,
    Repeat,
    SamplePayload,
    SampleRecord,
    SampleStatus,
)
from pytest_llmbench.results.validation import MAX_NUMBER

PAYLOAD_VERSION = 1
METRIC_UNSCORED = "metric"  # the reason code of a sample an item-side metric left unscored
ATTRIBUTE = "llmbench"


def _finite_number(value: Any) -> float | None:
    """A number a record can hold: finite and within ±MAX_NUMBER (what a reader of the
    record accepts, and far from where a sum of 100,000 of them overflows)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, int) and abs(value) > MAX_NUMBER:
        return None  # float() of a huge int raises OverflowError
    number = float(value)
    return number if math.isfinite(number) and abs(number) <= MAX_NUMBER else None


def build(
    *,
    scenario: str,
    sample_id: str,
    item_id: str,
    position: int,
    nodeid: str,
    outcome: str,
    judged: JudgeResult | None,
    live: bool,
    judged_metrics: tuple[str, ...],
    field_values: dict[str, Any],
    extra_scores: dict[str, float],
    prompt_sha256: str | None,
    failure: str | None,
    output_cached: bool | None = None,
    reference_stats: dict[str, list[float]] | None = None,
    unscored_metrics: Mapping[str, str] | None = None,
    variant: str = "",
    output_seconds: float | None = None,
) -> SamplePayload:
    """Decide the sample's status and flatten everything into builtins.

    ``field_values`` are the sample's `source: field` metrics (non-numbers, and numbers
    beyond ±1e15 that a record reader refuses, are dropped);
    ``extra_scores`` are reference metrics computed in the item process; ``failure`` is the
    crash line of an item that failed before or without being scored; ``output_cached``
    whether the `output` fixture's came from the output cache (None: no output cache);
    ``variant`` the item's variant ("" without `variants:`); ``output_seconds`` the output
    function's time for the `output` fixture (None: not called);
    ``reference_stats`` the sufficient statistics of `aggregate: corpus` metrics;
    ``unscored_metrics`` the metrics computed in the item process (a custom source,
    similarity) that have no score, with why: a sample the judge scored is then `unscored`
    (code `metric`), its other scores kept, so a metric that failed is never a quiet gap.
    """
    scores: dict[str, float] = {}
    for name, raw in field_values.items():
        number = _finite_number(raw)
        if number is not None:
            scores[name] = number
    scores.update(extra_scores)
    status: SampleStatus
    reason: str | None = None
    code: str | None = None
    if judged is not None and judged.status == "scored":
        scores.update(judged.scores)
        status = "scored"
    elif judged is not None:
        status, reason = "unscored", judged.reason or "unscored"
        code = judged.reason_code or "judge"
    elif failure is not None:
        status, reason, code = "error", failure, "test_error"
    elif judged_metrics:
        status, reason = "unscored", "the test did not call judge(output)"
        code = "not_judged"
    else:
        status = "scored"
    if status == "scored" and unscored_metrics:
        # Scored by the judge (or needing no judge), but a metric of its own failed.
        status, reason, code = "unscored", unscored_reason(unscored_metrics), METRIC_UNSCORED
    built: SamplePayload = {
        "v": PAYLOAD_VERSION,
        "scenario": scenario,
        "sample_id": sample_id,
        "item_id": item_id,
        "position": position,
        "nodeid": nodeid,
        "status": status,
        "reason": reason,
        "reason_code": code,
        "scores": dict(sorted(scores.items())),
        "prompt_sha256": prompt_sha256,
        # What the call cost; nothing for the dry-run judge, which makes no call.
        "judge": judged.call_stats() if judged is not None and live else JudgeCallStats(),
        "outcome": outcome,
        "extra": {},
    }
    if judged is not None:
        _add_judge_words(built, judged)
        if judged.repeats:
            built["repeats"] = [_repeat(r) for r in judged.repeats]
    if output_cached is not None:
        built["output_cached"] = output_cached
    if reference_stats:
        built["reference_stats"] = dict(sorted(reference_stats.items()))
    if unscored_metrics:
        built["unscored_metrics"] = dict(sorted(unscored_metrics.items()))
    if variant:
        built["variant"] = variant
    seconds = _finite_number(output_seconds)
    if seconds is not None:
        built["output_latency_s"] = seconds
    return built


def unscored_reason(unscored_metrics: Mapping[str, str]) -> str:
    """`metric m: why` for the first unscored metric by name, and how many more."""
    names = sorted(unscored_metrics)
    more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
    return f"metric {names[0]}: {unscored_metrics[names[0]]}{more}"


def _add_judge_words(built: SamplePayload, judged: JudgeResult) -> None:
    """The raw scores and the judge's words, only when there are some; bounded here too,
    whatever judge produced them."""
    if judged.status == "scored" and judged.raw_scores:
        built["raw_scores"] = {k: float(v) for k, v in sorted(judged.raw_scores.items())}
    reasoning = bound_text(judged.reasoning) if judged.reasoning else ""
    if reasoning:
        built["judge_reasoning"] = reasoning
    raw = bound_text(judged.raw_reply) if judged.raw_reply else ""
    if raw:
        built["judge_raw"] = raw


def _repeat(judged: JudgeResult) -> Repeat:
    """One judgement of a sample judged `repeats:` times."""
    if judged.status == "scored":
        scores = {k: float(v) for k, v in sorted(judged.scores.items())}
        return {"scores": scores, "status": "scored"}
    return {"scores": {}, "status": "unscored", "reason": judged.reason or "unscored"}


def is_payload(data: object) -> TypeGuard[SamplePayload]:
    return isinstance(data, dict) and data.get("v") == PAYLOAD_VERSION


def to_entry(data: SamplePayload) -> SampleRecord:
    """A payload read into the run record's sample entry (the one place payloads are read).
    The judge block keeps what is the same in every run mode: not the call's latency (that
    goes to the run block, see `live_latency`)."""
    judge = data.get("judge") or JudgeCallStats()
    scores = data.get("scores") or {}
    if not _normal(scores):
        scores = {str(k): float(v) for k, v in sorted(scores.items())}
    entry: SampleRecord = {
        "id": str(data["sample_id"]),
        "item_id": str(data["item_id"]),
        "position": int(data["position"]),
        "nodeid": str(data["nodeid"]),
        "status": data["status"],
        "reason": data.get("reason"),
        "outcome": str(data.get("outcome", "passed")),
        # The payload's own dicts when they are already in the record's form: a
        # 10,000-sample run would otherwise hold each one twice at its finish.
        "scores": scores,
        "prompt_sha256": data.get("prompt_sha256"),
        "judge": _entry_judge(judge),
    }
    if data.get("reason_code"):
        entry["reason_code"] = str(data["reason_code"])
    if data.get("extra"):
        entry["extra"] = data["extra"]
    if data.get("raw_scores"):
        entry["raw_scores"] = data["raw_scores"]
    if data.get("judge_reasoning"):
        entry["judge_reasoning"] = str(data["judge_reasoning"])
    if data.get("judge_raw"):
        entry["judge_raw"] = str(data["judge_raw"])
    if isinstance(data.get("output_cached"), bool):
        entry["output_cached"] = data["output_cached"]
    if data.get("reference_stats"):
        entry["reference_stats"] = data["reference_stats"]
    if data.get("unscored_metrics"):
        entry["unscored_metrics"] = data["unscored_metrics"]
    if data.get("repeats"):
        entry["repeats"] = data["repeats"]
    if data.get("variant"):
        entry["variant"] = str(data["variant"])
    return entry


def live_latency(data: SamplePayload) -> float | None:
    """The seconds of the sample's judge call when it went over HTTP (not cached), else None."""
    judge = data.get("judge") or JudgeCallStats()
    if judge.get("cached") or not judge.get("attempts"):
        return None
    return _finite_number(judge.get("latency_s"))


def _entry_judge(judge: JudgeCallStats) -> JudgeCallStats:
    if not judge:
        return judge
    kept: dict[str, Any] = {k: v for k, v in judge.items() if k in _ENTRY_JUDGE_KEYS}
    return cast(JudgeCallStats, kept)


def _normal(scores: Mapping[str, Any]) -> bool:
    """Sorted string keys and float values: the record's form of a scores dict."""
    if not isinstance(scores, dict):
        return False
    keys = list(scores)
    return (
        all(type(k) is str for k in keys)
        and keys == sorted(keys)
        and all(type(v) is float for v in scores.values())
    )


_ENTRY_JUDGE_KEYS = ("cached", "attempts", "retries", "prompt_tokens", "completion_tokens")
