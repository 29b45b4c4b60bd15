"""Which judge runs, live or dry-run, and why: resolved once per judge in each process."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pytest_llmbench.benchmark.judge_config import JudgeConfig
from pytest_llmbench.errors import JudgeSetupError

__all__ = ["Mode", "Resolved", "resolve_mode"]

Mode = Literal["live", "dry-run"]
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Resolved:
    mode: Mode
    reason: str


def resolve_mode(option: str, judge: JudgeConfig, environ: Mapping[str, str]) -> Resolved:
    """auto is live when the judge's base_url expands to something, dry-run otherwise."""
    variable = _VAR.search(judge.base_url_raw)
    named = f"${variable.group(1)}" if variable else "base_url"
    if judge.kind == "dry-run":
        return Resolved("dry-run", f"judge {judge.name!r} is of kind dry-run")
    if option == "dry-run":
        return Resolved("dry-run", "--llmbench-judge=dry-run")
    if not judge.base_url:
        if option == "live":
            raise JudgeSetupError(
                f"--llmbench-judge=live but judge {judge.name!r} has no base_url "
                f"({judge.base_url_raw or 'not set'}): set {named} or use --llmbench-judge=auto"
            )
        return Resolved("dry-run", f"auto: {named} is not set")
    if judge.api_key_env and not environ.get(judge.api_key_env):
        raise JudgeSetupError(
            f"judge {judge.name!r} reads its API key from ${judge.api_key_env}, which is not "
            f"set: export it, or run offline with --llmbench-judge=dry-run"
        )
    return Resolved(
        "live", "--llmbench-judge=live" if option == "live" else f"auto: {named} is set"
    )
