"""Which samples of the run's selection to judge ahead next: pure bookkeeping over positions
in the selection, no I/O (the controller's judging ahead, run/ahead_of_items, drives it).

Items run in selection order within each process, but under xdist each worker is at its
own place in the list (``--dist load`` hands out contiguous chunks; ``worksteal`` splits
them). The only thing the controller is told is that an item began
(``pytest_runtest_logstart``). So every begun item whose successor has not begun is a
*cursor* (a place some process is at), and the window serves the cursors in turn, each
with the nearest positions after it not begun and not yet judged ahead. At most `size`
positions are judged ahead and not yet begun at any time, which bounds both the calls
in flight and the finished ones waiting for their item.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Window"]


class Window:
    """Positions 0..count-1 of the selection; `size` the most judged ahead, not begun."""

    def __init__(self, count: int, size: int) -> None:
        self.count = count
        self.size = max(1, size)
        self._begun = bytearray(count)
        self._issued = bytearray(count)
        self.waiting = 0  # issued and not yet begun
        # cursor -> the next position to look at after it (everything between is taken)
        self._cursors: dict[int, int] = {-1: 0}
        self._turn = 0

    def begin(self, position: int) -> None:
        """The item at `position` began (in any process)."""
        if not 0 <= position < self.count or self._begun[position]:
            return
        self._begun[position] = 1
        if self._issued[position]:
            self.waiting -= 1
        following = self._cursors.pop(position - 1, position + 1)
        if position == 0:
            self._cursors.pop(-1, None)
        if position + 1 < self.count and not self._begun[position + 1]:
            self._cursors[position] = max(following, position + 1)

    def issued(self, position: int) -> bool:
        return bool(self._issued[position])

    def begun(self, position: int) -> bool:
        return bool(self._begun[position])

    def next(self, usable: Callable[[int], bool] = lambda _: True) -> list[int]:
        """Positions to judge ahead now (marked issued), nearest the cursors first, the
        cursors served in turn; `usable` rules positions out for good (a scenario that
        stopped being judged ahead)."""
        chosen: list[int] = []
        room = self.size - self.waiting
        while room > 0 and self._cursors:
            cursors = sorted(self._cursors)
            progressed = False
            for offset in range(len(cursors)):
                if room <= 0:
                    break
                cursor = cursors[(self._turn + offset) % len(cursors)]
                found = self._after(cursor, usable)
                if found is None:
                    continue
                self._issued[found] = 1
                self.waiting += 1
                chosen.append(found)
                room -= 1
                progressed = True
            self._turn += 1
            if not progressed:
                break
        return chosen

    def _after(self, cursor: int, usable: Callable[[int], bool]) -> int | None:
        """The first position after `cursor` neither begun nor issued, and usable, before
        the next begun one (that belongs to another cursor); None when there is none."""
        position = self._cursors.get(cursor, cursor + 1)
        while position < self.count:
            if self._begun[position]:
                self._cursors[cursor] = position
                return None
            if not self._issued[position] and usable(position):
                self._cursors[cursor] = position + 1
                return position
            position += 1
        self._cursors[cursor] = position
        return None
