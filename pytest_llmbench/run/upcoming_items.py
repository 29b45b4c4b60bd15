"""Which items run next in this process, so their samples can be judged ahead.

Without xdist that is the rest of ``session.items``. On an xdist worker it is only what
the controller has already queued to this worker (``nextitem`` and the worker's pending
queue): an item another worker will run is not judged here. With ``--dist worksteal`` an
item queued here may still be stolen by an idle worker; its call judged ahead here is then
taken by that worker's own request in the run's helper (helper_process.Calls), not made
twice. Only ``output: module:function`` (and, with a budget, stored ``output:`` fields) is
judged ahead this way; other stored outputs are judged ahead by the controller
(run/ahead_of_items).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest


def _worker_queue(config: pytest.Config) -> Any | None:
    for plugin in config.pluginmanager.get_plugins():
        if type(plugin).__name__ == "WorkerInteractor" and hasattr(plugin, "torun"):
            return plugin
    return None


class Upcoming:
    def __init__(self, session: pytest.Session) -> None:
        self._session = session
        self._interactor = (
            _worker_queue(session.config) if hasattr(session.config, "workerinput") else None
        )
        self._index: dict[int, int] | None = None
        self._frontier = -1  # the furthest item already handed out (no xdist)

    def starting_at(self, item: pytest.Item) -> Iterator[pytest.Item]:
        """This item, then those that run after it in this process and were not handed out
        by an earlier call (the consumer examines every item it is given). The item itself
        comes first so that the first item of a run is judged ahead too, not queued behind
        the window it opened."""
        yield item
        if self._interactor is not None:
            # An xdist worker's queue is short and may change between calls: walk it all.
            yield from self.after(item)
            return
        items = self._session.items
        if self._index is None:
            self._index = {id(it): i for i, it in enumerate(items)}
        position = self._index.get(id(item))
        if position is None:
            return
        for index in range(max(position, self._frontier) + 1, len(items)):
            self._frontier = index
            yield items[index]

    def after(self, item: pytest.Item) -> Iterator[pytest.Item]:
        items = self._session.items
        if self._interactor is not None:
            # xdist internals (WorkerInteractor.torun / nextitem_index); if they change,
            # prefetch quietly stops rather than guessing.
            queue = getattr(self._interactor, "torun", None)
            following = getattr(self._interactor, "nextitem_index", None)
            try:
                with queue.lock() as pending:  # type: ignore[union-attr]
                    indices = [following, *pending]
            except Exception:
                return iter(())
            return (items[i] for i in indices if isinstance(i, int) and 0 <= i < len(items))
        if self._index is None:
            self._index = {id(it): i for i, it in enumerate(items)}
        position = self._index.get(id(item))
        if position is None:
            return iter(())
        return itertools.islice(items, position + 1, None)
