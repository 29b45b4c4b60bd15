"""What one judge call produced: scores or the reason there are none, and what it cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pytest_llmbench.results.schema import JudgeCallStats

Status = Literal["scored", "unscored"]


@dataclass
class JudgeResult:
    status: Status
    scores: dict[str, float] = field(default_factory=dict)
    reason: str | None = None  # why unscored
    reason_code: str | None = None  # set where the caller must tell it apart (the budget)
    attempts: int = 0  # HTTP requests made (0 for dry-run and cache hits)
    retries: int = 0  # attempts beyond the first, for any cause
    latency_s: float = 0.0  # wall time of the whole call, retries included
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    # With a prompt's declared `scale:`, the scores as the judge wrote them (`scores` holds
    # them normalised to 0..1); None without a scale.
    raw_scores: dict[str, float] | None = None
    # The judge's words, each cut to reply_parsing.TEXT_LIMIT and redacted: its reasoning
    # (a reasoning block or reasoning_content, else the prose around the JSON), and the
    # message content of the last reply (also when that reply was unusable). "" for none.
    reasoning: str = ""
    raw_reply: str = ""
    # Why a reply's token counts were not believed (and counted as 0), "" when they were.
    usage_note: str = ""
    # Where the run's helper shares one call among equal requests (helper_process.Calls):
    # whether this request made the call (then its cost is this process's to settle in the
    # budget ledger) and whether it is the item request the call counts under (the tally).
    started: bool = True
    claimed: bool = True
    # With `repeats:` K > 1: each of the sample's K judgements, in repeat order; this
    # result is their mean (judging/repeats.py). Empty for a single judgement.
    repeats: tuple[JudgeResult, ...] = ()

    def call_stats(self) -> JudgeCallStats:
        """What a live call cost, for the payload (the scores travel apart)."""
        return {
            "cached": self.cached,
            "attempts": self.attempts,
            "retries": self.retries,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "latency_s": self.latency_s,
        }
