"""The budget ledger on its own: a call's worst case is held before it is sent and settled
to its real cost after, for every process sharing the ledger; a call that cannot fit is
told to wait while calls in flight may still make room, and refused once none can."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.benchmark.judge_config import JudgeConfig, Price
from pytest_llmbench.judging.budget import (
    COMPLETION_TOKENS_UNSET,
    REPLIES_PER_CALL,
    SCHEMA_BYTES_PER_METRIC,
    Budget,
    Refusal,
    Reservation,
    prompt_token_bound,
    worst_case_cost,
)

HOLD_S = 60.0


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "runs" / "r.spend.sqlite3"


def test_a_reservation_is_held_then_settled_to_what_the_call_cost(ledger: Path) -> None:
    budget = Budget(1.0, ledger)
    try:
        held = budget.reserve(0.6, HOLD_S)
        assert isinstance(held, Reservation) and held.amount == 0.6
        assert budget.summary() == {
            "limit_usd": 1.0,
            "spent_usd": 0.0,
            "held_usd": 0.6,
            "refused_calls": 0,
        }
        budget.settle(held, 0.25)
        assert budget.spent() == 0.25
        assert budget.summary()["held_usd"] == 0.0
    finally:
        budget.close()


def test_every_process_sees_the_others_spend_and_holds(ledger: Path) -> None:
    first, second = Budget(0.5, ledger), Budget(0.5, ledger)
    try:
        one = first.reserve(0.2, HOLD_S)
        two = second.reserve(0.2, HOLD_S)
        assert isinstance(one, Reservation) and isinstance(two, Reservation)
        # 0.4 held: a third 0.2 does not fit now, but may once those settle for less.
        assert first.reserve(0.2, HOLD_S) is None
        first.settle(one, 0.05)
        second.settle(two, 0.05)
        assert second.spent() == pytest.approx(0.1)
        three = second.reserve(0.2, HOLD_S)
        assert isinstance(three, Reservation)
        first.add(0.0)  # nothing to record
        first.add(0.2)
        assert second.spent() == pytest.approx(0.3)
    finally:
        first.close()
        second.close()


def test_a_call_that_cannot_fit_whatever_settles_is_refused_and_counted(ledger: Path) -> None:
    budget = Budget(0.5, ledger)
    try:
        held = budget.reserve(0.3, HOLD_S)
        assert isinstance(held, Reservation)
        budget.settle(held, 0.3)
        refusal = budget.reserve(0.25, HOLD_S)
        assert refusal == Refusal(amount=0.25, spent=0.3, stranded=0.0)
        assert budget.summary()["refused_calls"] == 1
        assert isinstance(budget.reserve(0.2, HOLD_S), Reservation)  # reaching it is fine
    finally:
        budget.close()


def test_holds_that_can_no_longer_settle_stay_counted_but_are_not_waited_for(
    ledger: Path,
) -> None:
    # A hold past its time, and one of a process that has ended (an xdist worker that died
    # in the middle of a call): the call may have been paid, so they still count.
    ended = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; "
            "from pytest_llmbench.judging.budget import Budget; "
            "Budget(1.0, Path(sys.argv[1])).reserve(0.3, 60.0)",
            str(ledger),
        ],
        check=True,
        timeout=60,
    )
    assert ended.returncode == 0
    budget = Budget(1.0, ledger)
    try:
        assert isinstance(budget.reserve(0.3, 0.0), Reservation)  # its time is up at once
        time.sleep(0.01)
        refusal = budget.reserve(0.5, HOLD_S)
        assert isinstance(refusal, Refusal)
        assert (refusal.amount, refusal.spent) == (0.5, 0.0)
        assert refusal.stranded == pytest.approx(0.6)
        assert budget.summary()["held_usd"] == pytest.approx(0.6)
    finally:
        budget.close()


# -- the worst case of one call ------------------------------------------------------------


def judge(max_tokens: int | None = None) -> JudgeConfig:
    return JudgeConfig(name="j", kind="openai", price=Price(2.5, 10.0), max_tokens=max_tokens)


MESSAGES = [{"role": "system", "content": "Be strict."}, {"role": "user", "content": "Пост"}]


def test_the_prompt_bound_is_a_token_per_byte_of_the_messages_json_and_the_schema() -> None:
    as_json = json.dumps(MESSAGES, ensure_ascii=False, separators=(",", ":"))
    assert prompt_token_bound(MESSAGES, ()) == len(as_json.encode("utf-8"))
    assert prompt_token_bound(MESSAGES, ("a", "b")) == (
        len(as_json.encode("utf-8")) + 2 * SCHEMA_BYTES_PER_METRIC
    )


@given(st.lists(st.tuples(st.sampled_from(["system", "user"]), st.text()), max_size=4))
def test_the_prompt_bound_is_never_below_the_bytes_of_what_is_sent(
    pairs: list[tuple[str, str]],
) -> None:
    messages = [{"role": role, "content": content} for role, content in pairs]
    sent = sum(len(m["content"].encode("utf-8", "replace")) for m in messages)
    # and a few tokens a message for the chat template around it
    assert prompt_token_bound(messages, ("coverage",)) >= sent + 4 * len(messages)


@pytest.mark.parametrize(
    ("max_tokens", "completion"), [(None, COMPLETION_TOKENS_UNSET), (50, 50), (0, 0)]
)
def test_a_calls_worst_case_is_two_replies_of_the_prompt_bound_and_max_tokens(
    max_tokens: int | None, completion: int
) -> None:
    prompt = prompt_token_bound(MESSAGES, ("coverage",))
    expected = REPLIES_PER_CALL * Price(2.5, 10.0).cost(prompt, completion)
    assert worst_case_cost(judge(max_tokens), MESSAGES, ("coverage",)) == expected


def test_a_judge_without_a_price_has_no_worst_case_to_hold() -> None:
    assert worst_case_cost(JudgeConfig(name="j", kind="openai"), MESSAGES, ()) is None


def test_a_call_costs_its_input_and_output_tokens_at_the_price_per_million() -> None:
    assert Price(2.5, 10.0).cost(1_000_000, 0) == 2.5
    assert Price(2.5, 10.0).cost(0, 1_000_000) == 10.0
    assert Price(2.5, 10.0).cost(400, 20) == pytest.approx(0.0012)
    assert Price(0.0, 0.0).cost(400, 20) == 0.0
