"""Which judge runs, live or dry-run, and why: resolved once per judge in each process."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pytest_llmbench.benchmark.judge_config import JudgeConfig
from pytest_llmbench.errors import JudgeSetupError
from pytest_llmbench.redaction import has_userinfo

__all__ = ["Mode", "Resolved", "resolve_mode"]

Mode = Literal["live", "dry-run"]
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Resolved:
    mode: Mode
    reason: str
    # For the header of a live judge whose api_key_env gives no key ("no API key:
    # LLM_API_KEY is unset"): it runs, unauthenticated, and a 401 names the variable.
    key_note: str = ""


def resolve_mode(option: str, judge: JudgeConfig, environ: Mapping[str, str]) -> Resolved:
    """auto is live when the judge's base_url expands to something, dry-run otherwise."""
    variable = _VAR.search(judge.base_url_raw)
    named = f"${variable.group(1)}" if variable else "base_url"
    if judge.kind == "dry-run":
        return Resolved("dry-run", f"judge {judge.name!r} is of kind dry-run")
    if option == "dry-run":
        return Resolved("dry-run", "--llmbench-judge=dry-run")
    if judge.custom:  # a user's class needs no base_url: it is live unless told otherwise
        reason = "--llmbench-judge=live" if option == "live" else f"kind {judge.kind}"
        return Resolved("live", reason, _key_note(judge, environ))
    if not judge.base_url:
        if option == "live":
            raise JudgeSetupError(
                f"--llmbench-judge=live but judge {judge.name!r} has no base_url "
                f"({judge.base_url_raw or 'not set'}): set {named} or use --llmbench-judge=auto"
            )
        return Resolved("dry-run", f"auto: {named} is not set")
    return Resolved(
        "live",
        "--llmbench-judge=live" if option == "live" else f"auto: {named} is set",
        _key_note(judge, environ),
    )


def _key_note(judge: JudgeConfig, environ: Mapping[str, str]) -> str:
    """Empty when the judge has its key or needs none; else what the header says. A judge
    with both a key and user:password@ in base_url is refused: both would be its one
    Authorization header, and neither silently wins."""
    env = judge.api_key_env
    if not env:
        return ""
    if environ.get(env):
        if has_userinfo(judge.base_url):
            raise JudgeSetupError(
                f"judges.{judge.name}: base_url has user:password@ and api_key_env "
                f"(${env}) gives a key too; both would be the Authorization header: keep "
                f"one (remove api_key_env for basic auth, or the userinfo for the key)"
            )
        return ""
    return f"no API key: {env} is {'empty' if env in environ else 'unset'}"
