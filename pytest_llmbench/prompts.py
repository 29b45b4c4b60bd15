"""The prompt registry: prompts/<name>/<version>.yaml, rendered with Jinja2 StrictUndefined."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class PromptError(Exception):
    """A missing or broken judge prompt; the message names the prompt file and the fix."""


@dataclass(frozen=True)
class JudgePrompt:
    name: str
    version: str
    path: Path
    description: str
    metrics: tuple[str, ...]
    system: str
    user: str
    sha256: str  # of the file's bytes: a changed file under an old version name is reported

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"
