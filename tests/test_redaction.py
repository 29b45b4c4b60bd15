"""The one redaction module: URLs as published, webhook hints, secrets out of messages."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.redaction import (
    EDGE_FRAGMENT,
    FRAGMENT,
    MASK,
    UNREADABLE,
    public_url,
    redact,
    redact_argv,
    redact_cut,
    url_origin,
    url_secrets,
    webhook_hint,
)

# -- URLs: examples ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("", ""),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("https://api.openai.com/v1/", "https://api.openai.com/v1/"),
        ("http://user:hunter2@judge.test:8000/v1?key=k#top", "http://judge.test:8000/v1"),
        ("http://TOKEN@Judge.Test/v1", "http://judge.test/v1"),
        ("http://[::1]:8080/v1", "http://[::1]:8080/v1"),
        ("http://judge.test:notaport/v1", UNREADABLE),
        ("http://[::1/v1", UNREADABLE),
        ("user:pass@judge.test/v1", UNREADABLE),  # no //: the password would read as a path
        ("not a url", UNREADABLE),
    ],
)
def test_public_url_keeps_where_it_points_and_nothing_else(url: str, shown: str) -> None:
    assert public_url(url) == shown


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://api.github.com/repos/o/r/issues/1/comments?page=2", "https://api.github.com"),
        ("https://x:tok@GitHub.Example.com:8443/api/v3", "https://github.example.com:8443"),
        ("http://h:99999/", UNREADABLE),
        ("", UNREADABLE),
    ],
)
def test_url_origin_is_scheme_host_and_port(url: str, origin: str) -> None:
    assert url_origin(url) == origin


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T000/B000/XXXXabcd", "https://hooks.slack.com/…abcd"),
        ("https://discord.com/api/webhooks/123/tok-en?wait=true", "https://discord.com/…true"),
        ("https://user:pa55@hooks.example/abcdefghijklmnop", "https://hooks.example/…mnop"),
        ("http://127.0.0.1:8080/services/T0/B0/zzzzwxyz", "http://127.0.0.1:8080/…wxyz"),
        ("http://127.0.0.1:8080/hook", "http://127.0.0.1:8080/…"),  # too short to show a tail
        ("https://hooks.example:x/abcdefghijklmnop", "https://hooks.example/…mnop"),
        ("https://hooks.example", "https://hooks.example/"),
        ("https://hooks.example/", "https://hooks.example/"),
        ("not a url", "(not a URL)"),
        ("", "(not a URL)"),
    ],
)
def test_webhook_hint_shows_the_host_and_a_tail_of_a_long_path(url: str, shown: str) -> None:
    assert webhook_hint(url) == shown


def test_redact_argv_hides_the_webhook_in_both_spellings() -> None:
    url = "https://hooks.slack.com/services/T000/B000/XXXXabcd"
    assert redact_argv(["pytest", f"--llmbench-webhook={url}", "-n", "2"]) == [
        "pytest",
        "--llmbench-webhook=https://hooks.slack.com/…abcd",
        "-n",
        "2",
    ]
    assert redact_argv(["pytest", "--llmbench-webhook", url]) == [
        "pytest",
        "--llmbench-webhook",
        "https://hooks.slack.com/…abcd",
    ]


@pytest.mark.parametrize(
    ("arg", "shown"),
    [
        (
            "--llmbench-pushgateway=https://u:pw@gw.test/x?k=s",
            "--llmbench-pushgateway=https://gw.test/x",
        ),
        ("http://u:pw@gw.test", "http://gw.test"),
        (
            "--llmbench-pushgateway=http://gw.test:9091",
            "--llmbench-pushgateway=http://gw.test:9091",
        ),
        ("-k", "-k"),
        ("not a=url", "not a=url"),
        ("tests/test_a.py::test[a=b]", "tests/test_a.py::test[a=b]"),
    ],
)
def test_redact_argv_shows_other_urls_without_credentials_or_query(arg: str, shown: str) -> None:
    assert redact_argv(["pytest", arg]) == ["pytest", shown]


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("http://judge.test/v1", []),
        ("http://user:hunter2@judge.test/v1", ["user:hunter2", "hunter2"]),
        ("http://user:p%40ss@judge.test/v1", ["user:p%40ss", "user:p@ss", "p%40ss", "p@ss"]),
        ("https://ghp_token@github.example", ["ghp_token", "ghp_token:"]),
        ("http://[::1", []),
    ],
)
def test_url_secrets_are_the_credentials_it_carries(url: str, secrets: list[str]) -> None:
    assert sorted(url_secrets(url)) == sorted(secrets)


# -- URLs: properties ----------------------------------------------------------------------

# Credentials and query values from an alphabet the host and path never use, so that "not
# in the output" cannot fail by coincidence.
_SECRET = st.text("QWZqwz!$&'()*+,;=-_~", min_size=1, max_size=20)
_HOST = st.sampled_from(["judge.test", "127.0.0.1", "[::1]", "api.example.com"])
_PATH = st.sampled_from(["", "/", "/v1", "/v1/chat/completions", "/a/b/c"])


@given(
    scheme=st.sampled_from(["http", "https"]),
    user=_SECRET,
    password=_SECRET,
    host=_HOST,
    port=st.one_of(st.none(), st.integers(0, 65535)),
    path=_PATH,
    values=st.lists(_SECRET, max_size=3),
    fragment=st.one_of(st.none(), _SECRET),
)
def test_public_url_never_shows_credentials_or_query_values(
    scheme: str,
    user: str,
    password: str,
    host: str,
    port: int | None,
    path: str,
    values: list[str],
    fragment: str | None,
) -> None:
    query = "&".join(f"k{i}={v}" for i, v in enumerate(values))
    bare = f"{scheme}://{user}:{password}@{host}{'' if port is None else f':{port}'}{path}"
    url = bare + (f"?{query}" if query else "")
    url += f"#{fragment}" if fragment is not None else ""
    for shown in (public_url(url), url_origin(url)):
        for secret in (user, password, *values, *([fragment] if fragment else [])):
            assert secret not in shown
    # A webhook hint shows the last 4 characters of path, query and fragment by design.
    assert user not in webhook_hint(bare)
    assert password not in webhook_hint(bare)
    assert public_url(url) == f"{scheme}://{host}{'' if port is None else f':{port}'}{path}"


@given(st.text(max_size=80))
def test_the_url_functions_never_raise(text: str) -> None:
    for function in (public_url, url_origin, webhook_hint, url_secrets):
        function(text)
    for prefix in ("http://", "https://u:p@", "http://["):
        public_url(prefix + text)
        webhook_hint(prefix + text)
        url_secrets(prefix + text)


# -- redact --------------------------------------------------------------------------------


def test_redact_replaces_the_whole_secret_and_its_pieces() -> None:
    key = "sk-secret-0123456789"
    assert redact(f"bad key {key}!", [key]) == f"bad key {MASK}!"
    assert redact("key sk-secret-01... was cut", [key]) == f"key {MASK}... was cut"
    assert redact("sk-se is too short a piece", [key]) == "sk-se is too short a piece"
    assert redact("short abc, abc", ["abc"]) == f"short {MASK}, {MASK}"
    assert redact("nothing to hide", [None, ""]) == "nothing to hide"


def test_redact_hides_basic_auth_of_url_credentials() -> None:
    basic = base64.b64encode(b"user:hunter2").decode()
    text = f"echo: Authorization: Basic {basic}"
    secrets = url_secrets("http://user:hunter2@judge.test/v1")
    assert redact(text, secrets) == f"echo: Authorization: Basic {MASK}"


def _pieces(secret: str) -> set[str]:
    return {secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)}


@given(
    secret=st.text(min_size=1, max_size=40),
    before=st.text(max_size=40),
    after=st.text(max_size=40),
    cut=st.integers(0, 40),
)
def test_redact_leaves_no_piece_of_the_secret(
    secret: str, before: str, after: str, cut: int
) -> None:
    for text in (before + secret + after, before + secret[cut:] + after, secret * 3):
        out = redact(text, [secret])
        assert not any(piece in out for piece in _pieces(secret))
        if len(secret) >= FRAGMENT or "*" not in secret:  # a short "*" one matches the mask
            assert secret not in out


@given(text=st.text(max_size=200), secrets=st.lists(st.one_of(st.none(), st.text()), max_size=4))
def test_redact_never_raises(text: str, secrets: list[str | None]) -> None:
    redact(text, secrets)


@given(
    text=st.text(" .,;!?\n", max_size=80),
    secrets=st.lists(st.text("XYZ019-_", min_size=1, max_size=30), max_size=4),
)
def test_redact_keeps_text_that_holds_nothing_of_a_secret(text: str, secrets: list[str]) -> None:
    # No character of the text occurs in a secret, its base64 or its percent-encoding.
    assert redact(text, secrets) == text


# -- redact, then cut: the properties the issue asks for -----------------------------------

# API keys as providers issue them: a prefix, then 20 to 64 characters of [A-Za-z0-9_-].
_KEY = st.builds(
    lambda prefix, body: prefix + body,
    st.sampled_from(["sk-", "sk-proj-", "gsk_", "xai-", "", "Bearer-"]),
    st.text(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", min_size=20, max_size=64
    ),
)
_AROUND = st.text(max_size=200)


@given(key=_KEY, before=_AROUND, after=_AROUND, limit=st.integers(0, 400))
def test_no_piece_of_a_key_survives_redact_then_cut(
    key: str, before: str, after: str, limit: int
) -> None:
    out = redact_cut(before + key + after, [key], limit)
    assert len(out) <= max(limit, len("..."))
    assert not any(piece in out for piece in _pieces(key))


@given(key=_KEY, before=_AROUND, cut=st.integers(0, 64))
def test_a_key_cut_short_by_someone_else_is_hidden_to_its_last_four_characters(
    key: str, before: str, cut: int
) -> None:
    # A server's own shortening: the text ends (or begins) inside the key.
    head, tail = key[: len(key) - cut], key[cut:]
    for text, piece in ((before + " " + head, head), (tail + " " + before, tail)):
        out = redact(text, [key])
        assert not any(p in out for p in _pieces(key))
        if len(piece) >= EDGE_FRAGMENT:
            assert piece[:EDGE_FRAGMENT] not in out[:EDGE_FRAGMENT] + out[-EDGE_FRAGMENT:]


_CREDENTIAL = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~", min_size=4, max_size=24
)


@given(
    user=_CREDENTIAL,
    password=_CREDENTIAL,
    before=_AROUND,
    after=_AROUND,
    prefix=st.binary(max_size=5),
    suffix=st.binary(max_size=5),
)
def test_basic_auth_of_url_credentials_is_hidden_in_any_position(
    user: str, password: str, before: str, after: str, prefix: bytes, suffix: bytes
) -> None:
    secrets = url_secrets(f"http://{user}:{password}@judge.test/v1")
    pair = f"{user}:{password}".encode()
    basic = base64.b64encode(pair).decode()
    # Alone, as an echoed header sends it, and inside a longer base64 text (an echoed
    # request encoded whole), where it may start at any of three alignments.
    out = redact(f"{before}Authorization: Basic {basic}{after}", secrets)
    assert not any(piece in out for piece in _pieces(basic))
    blob = base64.b64encode(prefix + pair + suffix).decode()
    start = (8 * len(prefix) + 5) // 6
    end = (8 * (len(prefix) + len(pair))) // 6
    out = redact(before + blob + after, secrets)
    assert not any(piece in out for piece in _pieces(blob[start:end]))


_VALUE = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%", min_size=6, max_size=30
)


@given(values=st.lists(_VALUE, min_size=1, max_size=3), before=_AROUND, after=_AROUND)
def test_query_values_of_a_base_url_are_hidden_where_a_server_echoes_them(
    values: list[str], before: str, after: str
) -> None:
    query = "&".join(f"k{i}={v}" for i, v in enumerate(values))
    url = f"http://judge.test/v1?{query}"
    out = redact(f"{before} GET /v1/chat/completions?{query} {after}", url_secrets(url))
    for value in values:
        assert not any(piece in out for piece in _pieces(value))


def test_short_query_values_are_no_secret() -> None:
    # Hiding "1" of stream=1 would mask every 1 in a message.
    assert url_secrets("http://judge.test/v1?stream=1&api-version=2024-02-01") == ["2024-02-01"]
    assert redact("stream=1 took 1 s", url_secrets("http://judge.test/v1?stream=1")) == (
        "stream=1 took 1 s"
    )


# -- the fuzz corpus ----------------------------------------------------------------------

CORPUS = Path(__file__).parent / "fuzz" / "redaction"
EXPECTED: dict[str, dict[str, Any]] = json.loads(
    (CORPUS / "expected.json").read_text(encoding="utf-8")
)


def test_every_corpus_file_has_an_expectation_and_every_expectation_a_file() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.txt")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_urls_and_echoes_from_the_corpus_are_shown_as_expected(name: str) -> None:
    """Each file: a base_url, an API key (or an empty line), then the text a server echoed.
    expected.json gives the URL as shown and the text as redacted (or, for a long one,
    how many masks it becomes)."""
    url, key, text = (CORPUS / name).read_text(encoding="utf-8").split("\n", 2)
    expected = EXPECTED[name]
    secrets = [key or None, *url_secrets(url)]
    assert public_url(url) == expected["public_url"]
    assert not any(s and s in public_url(url) for s in secrets)
    out = redact(text.rstrip("\n"), secrets)
    if "redacted" in expected:
        assert out == expected["redacted"]
    else:
        assert out.count(MASK) == expected["masks"]
        assert set(out) <= set(MASK + " ")


def test_a_key_from_a_non_utf8_environment_is_still_redacted() -> None:
    key = "sk-bytes-\udcff\udcfe-0123456789"  # os.environ's surrogateescape of bad bytes
    assert redact(f"echo {key} end", [key]) == f"echo {MASK} end"
