"""What an output may say about a URL or a secret: records, reports, terminal lines and
judge reasons may be published (a PR comment, a CI log).

A URL is shown as where it points (``public_url``, ``url_origin``) or, for a webhook whose
path is the secret, as a hint (``webhook_hint``); a message that could echo a secret passes
through ``redact`` first. None of these raises on malformed input. Standard library only,
and cheap to import: every stage uses it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

__all__ = [
    "FRAGMENT",
    "MASK",
    "NOT_A_URL",
    "UNREADABLE",
    "public_url",
    "redact",
    "redact_argv",
    "url_origin",
    "url_secrets",
    "webhook_hint",
]

UNREADABLE = "<unreadable URL>"
NOT_A_URL = "(not a URL)"  # webhook_hint's answer: the alert line reads "... from (not a URL)"
MASK = "***"
# A message cut short (a server's reply is shortened, a stderr tail is cut) may hold only
# part of a secret; a piece this long is still worth hiding.
FRAGMENT = 6
WEBHOOK_OPTION = "--llmbench-webhook"  # as options.py declares it (not imported: it loads pytest)


def _split(url: str) -> SplitResult | None:
    try:
        return urlsplit(url.strip())
    except ValueError:  # "Invalid IPv6 URL", a bracketed host that is no address, ...
        return None


def _host(parts: SplitResult) -> str:
    host = parts.hostname or ""  # lowercased, and without user:password@
    return f"[{host}]" if ":" in host else host  # IPv6: hostname drops the brackets


def _netloc(parts: SplitResult) -> str | None:
    """``host[:port]``; None when the port is not a number from 0 to 65535."""
    try:
        port = parts.port
    except ValueError:
        return None
    return _host(parts) if port is None else f"{_host(parts)}:{port}"


def _readable(url: str) -> tuple[SplitResult, str] | None:
    """The parts of ``url`` and its ``host[:port]``, when it parses and has a host."""
    parts = _split(url)
    if parts is None or not parts.hostname:
        return None
    netloc = _netloc(parts)
    return None if netloc is None else (parts, netloc)


def public_url(url: str) -> str:
    """Scheme, host, port and path of ``url``: never its user:password, query or fragment,
    which is where keys travel. "" for "", ``UNREADABLE`` for text that does not parse as a
    URL with a host (without ``//``, ``user:pass@host`` would read as a path)."""
    if not url.strip():
        return ""
    readable = _readable(url)
    if readable is None:
        return UNREADABLE
    parts, netloc = readable
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def url_origin(url: str) -> str:
    """``scheme://host[:port]`` without credentials, or ``UNREADABLE``."""
    readable = _readable(url)
    if readable is None:
        return UNREADABLE
    parts, netloc = readable
    return f"{parts.scheme}://{netloc}"


def webhook_hint(url: str) -> str:
    """A webhook URL fit for a message: scheme, host and the last 4 characters, e.g.
    ``https://hooks.slack.com/…abcd``. The path holds the secret; only a long one shows
    its tail."""
    parts = _split(url)
    if parts is None or not parts.scheme or not parts.hostname:
        return NOT_A_URL
    # A port that is not a number: the host alone still says which webhook it was.
    netloc = _netloc(parts) or _host(parts)
    secret = parts.path.lstrip("/")
    secret += f"?{parts.query}" if parts.query else ""
    secret += f"#{parts.fragment}" if parts.fragment else ""
    shown = f"…{secret[-4:]}" if len(secret) >= 12 else ("…" if secret else "")
    return f"{parts.scheme}://{netloc}/{shown}"


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line fit for the run record: the URL of ``--llmbench-webhook`` (as ``=URL``
    or as the next argument) replaced by its webhook_hint."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(webhook_hint(arg))
            hide_next = False
        elif arg == WEBHOOK_OPTION:
            out.append(arg)
            hide_next = True
        elif arg.startswith(WEBHOOK_OPTION + "="):
            out.append(f"{WEBHOOK_OPTION}={webhook_hint(arg.partition('=')[2])}")
        else:
            out.append(arg)
    return out


def url_secrets(url: str) -> list[str]:
    """The credentials ``url`` carries, for redact: its user:password as written and as
    decoded (HTTP basic auth sends the decoded pair, in base64, which redact also hides),
    and the password alone, or the user alone when it is a token with no password."""
    parts = _split(url)
    if parts is None or "@" not in parts.netloc:
        return []
    userinfo = parts.netloc.rpartition("@")[0]
    user, _, password = userinfo.partition(":")
    found = [userinfo, f"{unquote(user)}:{unquote(password)}"]
    alone = password or user
    found += [alone, unquote(alone)]
    return [s for s in dict.fromkeys(found) if s and s != ":"]


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with each secret replaced by ``MASK``: whole, any piece of it of FRAGMENT or
    more characters, and the same for its base64. Empty and None secrets are skipped."""
    whole: set[str] = set()
    for secret in secrets:
        if secret:
            whole.add(secret)
            whole.add(base64.b64encode(secret.encode("utf-8")).decode("ascii"))
    if not text or not whole:
        return text
    pieces = {
        s[i : i + FRAGMENT]
        for s in whole
        if len(s) >= FRAGMENT
        for i in range(len(s) - FRAGMENT + 1)
    }
    short = [s for s in whole if len(s) < FRAGMENT]
    text = _mask(text, pieces, short)
    # A piece can form again across a mask (a secret with "*" in it); each such pass
    # shrinks the text (6 or more characters become 3), so the loop ends.
    while True:
        again = _mask(text, pieces, [])
        if again == text:
            return text
        text = again


def _mask(text: str, pieces: set[str], short: Iterable[str]) -> str:
    hidden = [False] * len(text)
    for i in range(len(text) - FRAGMENT + 1):
        if text[i : i + FRAGMENT] in pieces:
            hidden[i : i + FRAGMENT] = [True] * FRAGMENT
    for secret in short:
        start = text.find(secret)
        while start != -1:
            hidden[start : start + len(secret)] = [True] * len(secret)
            start = text.find(secret, start + 1)
    if not any(hidden):
        return text
    out: list[str] = []
    for i, char in enumerate(text):
        if not hidden[i]:
            out.append(char)
        elif i == 0 or not hidden[i - 1]:
            out.append(MASK)
    return "".join(out)
