"""The window of judging ahead over the selection: never more than its size judged ahead
and not begun, each position at most once, nearest the places the processes are at."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.judging.ahead_window import Window


def test_one_process_is_served_in_selection_order_up_to_the_size() -> None:
    window = Window(10, 3)
    assert window.next() == [0, 1, 2]
    assert window.next() == []
    window.begin(0)
    assert window.next() == [3]
    window.begin(1)
    window.begin(2)
    assert window.next() == [4, 5]


def test_two_workers_at_two_places_are_served_in_turn() -> None:
    window = Window(100, 4)
    window.begin(0)
    window.begin(50)  # a second worker, given the second chunk
    assert sorted(window.next()) == [1, 2, 51, 52]


def test_a_position_that_began_before_being_judged_ahead_is_never_judged_ahead() -> None:
    window = Window(5, 2)
    window.begin(0)
    window.begin(1)
    window.begin(2)
    assert window.next() == [3, 4]


def test_positions_ruled_out_are_skipped_for_good() -> None:
    window = Window(6, 6)
    assert window.next(lambda p: p % 2 == 0) == [0, 2, 4]
    assert window.next() == []  # the cursor passed them


def test_a_window_of_size_zero_still_judges_one() -> None:
    assert Window(3, 0).next() == [0]


@given(
    count=st.integers(0, 60),
    size=st.integers(1, 10),
    events=st.lists(st.one_of(st.integers(0, 59), st.none()), max_size=200),
)
def test_the_window_never_holds_more_than_its_size_nor_issues_twice(
    count: int, size: int, events: list[int | None]
) -> None:
    window = Window(count, size)
    issued: list[int] = []
    for event in events:
        if event is None:
            chosen = window.next()
            assert not set(chosen) & set(issued)
            assert all(not window.begun(p) for p in chosen)
            issued += chosen
        else:
            window.begin(event)
        waiting = [p for p in issued if not window.begun(p)]
        assert len(waiting) == window.waiting <= size
    assert len(issued) == len(set(issued))
    assert all(0 <= p < count for p in issued)


@given(count=st.integers(1, 40), size=st.integers(1, 8))
def test_a_process_running_the_selection_in_order_gets_everything_judged_ahead(
    count: int, size: int
) -> None:
    window = Window(count, size)
    issued = set(window.next())
    for position in range(count):
        assert position in issued  # judged ahead before its item began
        window.begin(position)
        issued |= set(window.next())
    assert issued == set(range(count))
