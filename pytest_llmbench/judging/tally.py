"""What the judge answered, counted where the calls are made: every HTTP request a judge
call made, whoever caused it (a test body, judging ahead, a rerun or repeat of the same
sample, a call whose test timed out before the reply came), so the record's request count
is the server's. A sample's payload says what that sample's last call cost; this says what
the run cost."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from pytest_llmbench.judging.result import JudgeResult
from pytest_llmbench.results.schema import CallTally

KEYS = ("calls", "http_requests", "retries", "prompt_tokens", "completion_tokens")


class Tally:
    """Per scenario, in one process; only the background loop's thread adds to it."""

    def __init__(self) -> None:
        self._counts: dict[str, dict[str, int]] = {}

    def add(self, scenario: str, result: JudgeResult) -> None:
        if result.cached or not result.attempts:
            return  # the cache or the budget answered: no request was made
        counts = self._counts.setdefault(scenario, dict.fromkeys(KEYS, 0))
        counts["calls"] += 1
        counts["http_requests"] += result.attempts
        counts["retries"] += result.retries
        counts["prompt_tokens"] += result.prompt_tokens
        counts["completion_tokens"] += result.completion_tokens

    def as_dict(self) -> dict[str, CallTally]:
        return combine({}, self._counts)


def combine(tallies: Mapping[str, CallTally], more: object) -> dict[str, CallTally]:
    """``tallies`` plus another process's (as it arrived from an xdist worker: checked, since
    it crossed a process boundary; anything that is not a tally is ignored)."""
    out: dict[str, dict[str, int]] = {}
    for source in (tallies, more):
        if not isinstance(source, Mapping):
            continue
        for name, counts in source.items():
            if not isinstance(name, str) or not isinstance(counts, Mapping):
                continue
            mine = out.setdefault(name, dict.fromkeys(KEYS, 0))
            for key in KEYS:
                value = counts.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                    mine[key] += value
    return cast(dict[str, CallTally], dict(sorted(out.items())))


def empty() -> CallTally:
    """No call: a live scenario whose every sample came from the cache."""
    return cast(CallTally, dict.fromkeys(KEYS, 0))
