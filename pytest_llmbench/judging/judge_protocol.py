"""The `Judge` protocol every judge implements, and the request it scores.

Implementations: the dry-run judge (dry_run.py), the chat-completions judge
(chat_completions.py) and its proxy to the helper process (helper_process.py), and a
user's judge configured as `kind: module:Class` (custom_judges.py checks it against this
protocol, which is public as `pytest_llmbench.Judge`). The service (service.py) calls judges only
through this protocol, after its cache and budget: a judge neither caches nor counts spend.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pytest_llmbench.judging.result import JudgeResult

__all__ = ["ABSENT", "NOT_MADE", "NO_ROOM_AHEAD", "TAKEN", "Judge", "JudgeRequest"]

# The reasons of a call the run's helper did not make (helper_process.Calls): an "ahead"
# call for a request an item already took, and a `join_only` request with no call to join.
TAKEN = "already taken by its item"
ABSENT = "no call to join"
# A call judged ahead that the budget had no room for at the time (service.py).
NO_ROOM_AHEAD = "no room in the budget to judge ahead"
NOT_MADE = (TAKEN, ABSENT, NO_ROOM_AHEAD)  # its item then asks for itself


@dataclass(frozen=True)
class JudgeRequest:
    """One output of one sample to score, with everything a judge may read."""

    messages: list[dict[str, str]]  # the judge prompt rendered for this sample and output
    metrics: tuple[str, ...]  # the metrics to return, all of them or none
    temperature: float | None = None  # the prompt's own, which overrides the judge's
    sample_id: str = ""  # for reasons a person reads
    output: str = ""  # the text judged, as the test passed it to judge()
    ground_truth: Mapping[str, float] = field(default_factory=dict)  # stored scores
    scale: tuple[float, float] | None = None  # the prompt's declared (min, max); None: 0..1
    # Judged ahead of its item: the run's helper keeps the call for the item to take (an
    # item's own request is the one it counts under).
    ahead: bool = False
    # Judged ahead for an item of this very process, which takes the result here (the
    # controller's judging ahead in a single process, run/ahead_of_items): the run's helper
    # forgets the call once done, as if an item had taken it, and keeps nothing for others.
    taken_here: bool = False
    # Only join a call already made or in flight for this very request (judged ahead);
    # answered ABSENT when there is none. An item asks this first when a budget is set:
    # what was judged ahead is paid for already, and needs no room in the budget.
    join_only: bool = False
    # Which of the sample's `repeats:` judgements this is (0 to K-1): equal requests of
    # other repeats are calls of their own (helper_process.request_key, the cache key).
    repeat: int = 0


@runtime_checkable
class Judge(Protocol):
    """Scores requests; created once per judge and process, closed at session finish.

    The service awaits `score` on the item process's background loop (the dry-run judge,
    which never awaits, in the calling thread), for many requests at once up to the
    judge's concurrency. `score` does not raise for anything the judge or the network did:
    a sample it cannot score is `unscored` with a reason a person can act on, never a 0.
    """

    async def score(self, request: JudgeRequest) -> JudgeResult: ...

    async def aclose(self) -> None:
        """Release what `score` opened (an HTTP client), on the loop that used it."""
        ...
