"""The controller's store of sample payloads, keyed by (scenario, sample id)."""

from __future__ import annotations

from pytest_llmbench.results.schema import SamplePayload


class Collector:
    def __init__(self) -> None:
        # The payload dicts themselves, not copies: a report already holds each one, and a
        # 10,000-sample run should not hold them twice.
        self._by_key: dict[tuple[str, str, str], SamplePayload] = {}

    def add(self, data: SamplePayload) -> None:
        # A later report for the same sample (a rerun plugin) replaces the earlier one.
        self._by_key[(data["scenario"], data["sample_id"], data.get("variant", ""))] = data

    def __len__(self) -> int:
        return len(self._by_key)

    def scenarios(self) -> list[str]:
        return sorted({scenario for scenario, _, _ in self._by_key})

    def samples(self, scenario: str) -> list[SamplePayload]:
        """The scenario's payloads in dataset order, whatever order they arrived in."""
        found = [d for (s, _, _), d in self._by_key.items() if s == scenario]
        return sorted(found, key=lambda d: (d["position"], d["sample_id"], d.get("variant", "")))
