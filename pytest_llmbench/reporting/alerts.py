"""Alerts: a short message to a Slack or Discord incoming webhook when a run fails or regresses.

One JSON shape serves both: Slack reads ``text``, Discord reads ``content`` (both ignore
keys they do not know), so the same plain text goes in each. ``allowed_mentions`` stops
Discord from pinging anyone; angle brackets are replaced so Slack sees no ``<!channel>``
or ``<url|link>`` syntax in names. Which outcomes alert is the YAML's ``notify: on:``.

A webhook that fails is reported on the terminal and never changes the verdict or the
exit status. The URL is a secret (it is the only credential a webhook has): messages show
``redaction.webhook_hint(url)``, never the URL. The pytest side, AlertPlugin, is in
``run/exporters.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pytest_llmbench.benchmark.config import NotifyConfig
from pytest_llmbench.results.problems import scenario_problems, sentence

if TYPE_CHECKING:
    import httpx

MAX_TEXT = 1_900  # Discord refuses content over 2,000 characters
TIMEOUT_S = 10.0


@dataclass(frozen=True)
class AlertResult:
    ok: bool
    detail: str  # "HTTP 200", "HTTP 500", "timed out after 10 s", ...: never the URL


# -- the message ---------------------------------------------------------------------------


def should_notify(record: Mapping[str, Any], on: Sequence[str]) -> bool:
    """Whether a run with this record alerts, for the outcomes ``on`` (fail, warn, pass: the
    run's status; regression: any scenario's comparison found one). A run that is not gated
    (a node-id selection, a shard, an interrupted run) has no verdict to alert on."""
    if not record.get("gated", True):
        return False
    if record.get("status") in on:
        return True
    return "regression" in on and bool(regressed(record))


def notify_on(record: Mapping[str, Any]) -> list[str]:
    """The outcomes that alert, as the run's YAML said (``notify: on:``), stored in the
    record; the default for a record older than that."""
    stored = ((record.get("rules") or {}).get("notify") or {}).get("on")
    if isinstance(stored, list) and all(isinstance(o, str) for o in stored):
        return list(stored)
    return list(NotifyConfig().on)


def regressed(record: Mapping[str, Any]) -> dict[str, list[str]]:
    """{scenario: [regressed metric, ...]} for scenarios whose comparison is a regression."""
    found = {}
    for name, scenario in (record.get("scenarios") or {}).items():
        comparison = scenario.get("comparison") or {}
        if comparison.get("status") == "regression":
            found[name] = list(comparison.get("regressed") or [])
    return found


def run_url(environ: Mapping[str, str]) -> str | None:
    """The CI run's page, when GitHub Actions says which it is."""
    repository = environ.get("GITHUB_REPOSITORY")
    run_id = environ.get("GITHUB_RUN_ID")
    if not repository or not run_id:
        return None
    server = (environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    return f"{server}/{repository}/actions/runs/{run_id}"


def build_message(record: Mapping[str, Any], run_url: str | None) -> dict[str, Any]:
    """The webhook payload: the same short text under ``text`` (Slack) and ``content``
    (Discord). First line the verdict and the scenarios concerned, then one line per
    metric in its fail band or regressed (the warn-band ones when there are none), then
    the run link."""
    scenarios = record.get("scenarios") or {}
    slipped = regressed(record)
    concerned = [n for n, s in scenarios.items() if s.get("status") != "pass" or n in slipped]
    names = ", ".join(concerned or list(scenarios)) or "no scenarios"
    head = f"llmbench: {str(record.get('status', '?')).upper()} — {names}"
    lines = _problem_lines(record)
    tail = [f"run: {run_url}"] if run_url else []
    text = _fit(head, lines, tail)
    return {"text": text, "content": text, "allowed_mentions": {"parse": []}}


def _problem_lines(record: Mapping[str, Any]) -> list[str]:
    """The serious problems (failures, missing data, regressions, a spent budget) or, when
    there are none, the rest; derived from each scenario's block, never from its sentences."""
    serious: list[str] = []
    minor: list[str] = []
    for name, scenario in (record.get("scenarios") or {}).items():
        for problem in scenario_problems(name, scenario):
            (serious if problem.serious else minor).append("• " + _inert(sentence(problem)))
    return serious or minor


def _inert(text: str) -> str:
    # No Slack <!channel>, <@user> or <url|label> from a name; Discord mentions are off anyway.
    return text.replace("<", "‹").replace(">", "›")


def _fit(head: str, lines: list[str], tail: list[str]) -> str:
    """Head, lines and tail within MAX_TEXT: lines dropped from the end, counted."""
    head = _inert(head)[:300]
    tail = [t[:500] for t in tail]
    kept = list(lines)
    while True:
        dropped = len(lines) - len(kept)
        more = [f"… and {dropped} more"] if dropped else []
        text = "\n".join([head, *kept, *more, *tail])
        if len(text) <= MAX_TEXT or not kept:
            return text[:MAX_TEXT]
        kept.pop()


# -- posting -------------------------------------------------------------------------------


def webhook_problem(url: str) -> str | None:
    """Why this is not a usable webhook URL (without repeating it), or None."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # "Invalid IPv6 URL": post_alert must not raise
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return (
            "the webhook URL is not an http(s) URL (value not shown); give the incoming "
            "webhook URL from Slack or Discord"
        )
    return None


def post_alert(
    url: str,
    payload: Mapping[str, Any],
    *,
    timeout: float = TIMEOUT_S,
    transport: httpx.BaseTransport | None = None,
) -> AlertResult:
    """POST the payload as JSON. Never raises: the result says what happened."""
    problem = webhook_problem(url)
    if problem:
        return AlertResult(False, "not an http(s) URL")
    try:
        import httpx

        with httpx.Client(timeout=timeout, transport=transport) as client:
            response = client.post(
                url.strip(), json=dict(payload), headers={"User-Agent": "pytest-llmbench"}
            )
    except Exception as error:  # an alert never breaks a run
        return AlertResult(False, _failure(error, timeout))
    if response.is_success:
        return AlertResult(True, f"HTTP {response.status_code}")
    return AlertResult(False, f"HTTP {response.status_code}{_reason(response)}")


def _failure(error: Exception, timeout: float) -> str:
    import httpx

    if isinstance(error, httpx.TimeoutException):
        return f"timed out after {timeout:g} s"
    if isinstance(error, httpx.ConnectError):
        refused = "refused" in str(error).lower()
        return "connection refused" if refused else "could not connect"
    if isinstance(error, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
        return "not a usable URL"
    # The class name only: an exception's text may quote the URL.
    return f"failed ({type(error).__name__})"


def _reason(response: httpx.Response) -> str:
    """Slack's short error word (``no_service``, ``invalid_payload``) or Discord's message."""
    text = ""
    try:
        data = response.json()
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            text = data["message"]
    except ValueError:
        text = response.text
    text = " ".join(text.split())[:80]
    # Any echo of the request URL would carry the secret: show only plain words.
    if not text or "/" in text or not text.isprintable():
        return ""
    return f": {text}"


