"""The controller's store of sample payloads, keyed by (scenario, sample id)."""

from __future__ import annotations

from collections.abc import Iterator

from .payload import SamplePayload


class Collector:
    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], SamplePayload] = {}

    def add(self, payload: SamplePayload) -> None:
        # A later report for the same sample (a rerun plugin) replaces the earlier one.
        self._by_key[(payload.scenario, payload.sample_id)] = payload

    def __len__(self) -> int:
        return len(self._by_key)

    def scenarios(self) -> list[str]:
        return sorted({scenario for scenario, _ in self._by_key})

    def samples(self, scenario: str) -> list[SamplePayload]:
        """The scenario's samples in dataset order, whatever order they arrived in."""
        found = [p for (s, _), p in self._by_key.items() if s == scenario]
        return sorted(found, key=lambda p: (p.position, p.sample_id))

    def __iter__(self) -> Iterator[SamplePayload]:
        for scenario in self.scenarios():
            yield from self.samples(scenario)
