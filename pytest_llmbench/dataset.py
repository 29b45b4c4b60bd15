"""JSONL datasets: one sample a line, ids made ASCII-safe and unique."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class DatasetError(Exception):
    """A dataset the user must fix; the message names the file and the line(s)."""


@dataclass(frozen=True)
class Sample:
    id: str  # as written in the file
    item_id: str  # ASCII-safe, unique in the file: the test item's id
    position: int  # 0-based order in the file
    line: int  # 1-based line number in the file
    input: Any = None
    output: Any = None
    reference: Any = None
    ground_truth: dict[str, float] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)  # the whole record as read

    def __getattr__(self, name: str) -> Any:
        # Other dataset fields read as attributes (sample.tags, sample.latency_seconds).
        fields = self.__dict__.get("fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(f"sample {self.__dict__.get('id')!r} has no field {name!r}")

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]


@dataclass(frozen=True)
class Dataset:
    path: Path
    display: str  # the path as the user wrote it
    samples: tuple[Sample, ...]
    sha256: str  # of the file's bytes
