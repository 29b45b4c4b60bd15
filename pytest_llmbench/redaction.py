"""What an output may say about a URL or a secret: records, reports, terminal lines and
judge reasons may be published (a PR comment, a CI log).

A URL is shown as where it points (``public_url``, ``url_origin``) or, for a webhook whose
path is the secret, as a hint (``webhook_hint``); a message that could echo a secret passes
through ``redact`` first. None of these raises on malformed input. Standard library only,
and cheap to import: every stage uses it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

__all__ = [
    "EDGE_FRAGMENT",
    "FRAGMENT",
    "MASK",
    "NOT_A_URL",
    "UNREADABLE",
    "has_userinfo",
    "public_url",
    "redact",
    "redact_argv",
    "redact_cut",
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
# Where a text begins or ends, a secret may have been cut by someone else (a server that
# shortens its own message): a shorter piece is hidden there.
EDGE_FRAGMENT = 4
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
    or as the next argument) replaced by its webhook_hint, and any other URL that carries
    credentials or a query (``--llmbench-pushgateway=https://user:pass@...``) by its
    public_url."""
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
            out.append(_argument_shown(arg))
    return out


def _argument_shown(arg: str) -> str:
    """``arg``, or ``[--option=]URL`` with the URL as public_url when it carries a secret."""
    option, equals, value = arg.partition("=") if arg.startswith("-") else ("", "", arg)
    if not equals:
        option, value = "", arg
    parts = _split(value) if "://" in value else None
    if parts is None or ("@" not in parts.netloc and not parts.query and not parts.fragment):
        return arg
    return f"{option}{equals}{public_url(value)}"


def _userinfo_and_query(url: str) -> tuple[str | None, str]:
    """``user[:password]`` (None without an ``@``) and the query of ``url``, read by hand
    rather than with urlsplit: a URL it refuses (``http://[::1/v1?key=...``) or reads
    otherwise (without ``//``, ``user:pw@host`` is a scheme and a path) may still be sent
    or echoed, and its secrets must still be found."""
    rest = url.strip()
    scheme_end = rest.find("://")
    rest = rest[scheme_end + 3 :] if scheme_end != -1 else rest
    before_query, _, query = rest.partition("#")[0].partition("?")
    authority = re.split(r"[/\\]", before_query, maxsplit=1)[0]
    userinfo = authority.rpartition("@")[0] if "@" in authority else None
    return userinfo, query


def has_userinfo(url: str) -> bool:
    """Whether ``url`` carries ``user[:password]@`` (which HTTP clients send as basic auth)."""
    return _userinfo_and_query(url)[0] is not None


def url_secrets(url: str) -> list[str]:
    """The credentials ``url`` carries, for redact: its user:password as written and as
    decoded (HTTP basic auth sends the decoded pair, in base64, which redact also hides),
    the password alone, or the user alone when it is a token with no password, and each
    query value of FRAGMENT or more characters, as written and decoded (``?key=...``; a
    shorter value such as ``stream=1`` is no secret worth a guess, and hiding it would mask
    every "1" in a message)."""
    userinfo, query = _userinfo_and_query(url)
    found: list[str] = []
    if userinfo is not None:
        user, _, password = userinfo.partition(":")
        alone = password or user
        found += [userinfo, f"{unquote(user)}:{unquote(password)}", alone, unquote(alone)]
    for field in query.split("&"):
        value = field.partition("=")[2]
        found += [v for v in (value, unquote(value.replace("+", " "))) if len(v) >= FRAGMENT]
    return [s for s in dict.fromkeys(found) if s and s != ":"]


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with each secret replaced by ``MASK``: whole, any piece of it of FRAGMENT or
    more characters (EDGE_FRAGMENT at the start or end of ``text``, where a cut falls), and
    the same for its base64 at any alignment (inside a longer encoded header, say) and its
    percent-encoding. Empty and None secrets are skipped. Redact before cutting a text
    short: the cut then leaves part of a mask, never part of a secret."""
    whole: set[str] = set()
    for secret in secrets:
        if secret:
            whole.update(_forms(secret))
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
    text = _mask_edges(text, [s for s in whole if len(s) > EDGE_FRAGMENT])
    # A piece can form again across a mask (a secret with "*" in it); each such pass
    # shrinks the text (6 or more characters become 3), so the loop ends.
    while True:
        again = _mask(text, pieces, [])
        if again == text:
            return text
        text = again


def redact_cut(text: str, secrets: Iterable[str | None], limit: int, more: str = "...") -> str:
    """``text`` redacted, then cut to at most ``limit`` characters, ending in ``more`` when
    cut: the one order in which a cut cannot leave a piece of a secret too short to find."""
    text = redact(text, secrets)
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(more))] + more


def _forms(secret: str) -> set[str]:
    """``secret`` as it may travel: as is, percent-encoded, and in base64 at each of the
    three alignments it can have inside a longer encoded text (only the characters that
    depend on the secret's bytes alone, so the surrounding bytes do not matter)."""
    # surrogatepass: a key read from a non-UTF-8 environment holds lone surrogates.
    raw = secret.encode("utf-8", "surrogatepass")
    forms = {secret, quote(raw, safe="")}
    forms.add(base64.b64encode(raw).decode("ascii"))
    for pad in range(3):
        encoded = base64.b64encode(bytes(pad) + raw).decode("ascii")
        start, end = (8 * pad + 5) // 6, (8 * (pad + len(raw))) // 6
        if end - start >= FRAGMENT:
            forms.add(encoded[start:end])
    return forms


def _mask_edges(text: str, secrets: Iterable[str]) -> str:
    """``text`` with a secret's prefix of EDGE_FRAGMENT or more characters masked where the
    text ends, and a suffix where it begins (the longest such piece)."""
    head = tail = 0
    for secret in secrets:
        for n in range(min(len(secret), len(text)), EDGE_FRAGMENT - 1, -1):
            if n > tail and text.endswith(secret[:n]):
                tail = n
            if n > head and text.startswith(secret[-n:]):
                head = n
    if head + tail >= len(text) and (head or tail):
        return MASK
    return (MASK if head else "") + text[head : len(text) - tail] + (MASK if tail else "")


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
