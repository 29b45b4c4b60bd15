"""``s3://bucket/key`` as a user writes it on the command line: parsed, or refused in one line.

A location is a bucket and a key. A *prefix* (where ``push`` writes, where ``history``
reads) is a key that names a folder: ``s3://b/runs`` and ``s3://b/runs/`` are the same
prefix ``runs/`` (the trailing slash is optional, never significant), and ``s3://b`` or
``s3://b/`` is the bucket's root. An *object* (what ``pull`` reads) is a key that names a
file: it must not end in ``/``.

Hostile input is refused rather than guessed at: an empty or malformed bucket name (the
S3 rules: 3 to 63 lowercase letters, digits, ``.`` and ``-``, starting and ending with a
letter or digit, no ``..``, not an IP address), user:password@, a port, a query or a
fragment, and keys with ``.`` or ``..`` segments, empty segments (``a//b``), backslashes,
control or invisible characters, or more than 1024 bytes. Standard library only.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from pytest_llmbench.errors import UserError
from pytest_llmbench.redaction import MASK

__all__ = ["S3Location", "S3UrlError", "is_s3_url", "parse_s3_url"]

SCHEME = "s3://"
MAX_KEY_BYTES = 1024
MAX_SHOWN = 80  # how much of a refused URL an error repeats
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class S3UrlError(UserError):
    """An ``s3://`` URL that does not name a bucket and key this tool will use."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str  # "" for the bucket's root; a prefix ends in "/", an object does not

    @property
    def url(self) -> str:
        """The location as a message shows it: a character that is not printable (a listed
        key may hold one) as "?"."""
        text = f"{SCHEME}{self.bucket}/{self.key}"
        return text if text.isprintable() else "".join(c if c.isprintable() else "?" for c in text)

    def child(self, name: str) -> S3Location:
        """The object ``name`` under this prefix."""
        return S3Location(self.bucket, self.key + name)

    @property
    def name(self) -> str:
        """The object's file name: the key's last segment."""
        return self.key.rsplit("/", 1)[-1]

    @property
    def parent(self) -> S3Location:
        """The prefix the object is in."""
        return S3Location(self.bucket, self.key[: len(self.key) - len(self.name)])


def is_s3_url(text: str) -> bool:
    return text[:5].lower() == SCHEME


def shown(text: str) -> str:
    """``text`` fit for an error: printable, at most MAX_SHOWN characters."""
    safe = "".join(c if c.isprintable() else "?" for c in text)
    return safe if len(safe) <= MAX_SHOWN else safe[: MAX_SHOWN - 3] + "..."


def without_userinfo(text: str) -> str:
    """``text`` with a ``user:password@`` after its ``scheme://`` masked: never echoed. A
    secret key may hold "/", so an authority with ":" is masked up to the last "@"."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    authority = rest.partition("/")[0]
    if "@" in authority:
        rest = MASK + "@" + authority.rsplit("@", 1)[1] + rest[len(authority) :]
    elif ":" in authority and "@" in rest:
        rest = MASK + "@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}"


def parse_s3_url(text: str, *, kind: str = "prefix") -> S3Location:
    """``text`` as a location: ``kind`` "prefix" (the key is made to end in "/", or is ""
    for the root) or "object" (the key must name a file). Raises S3UrlError naming what
    is wrong and the form expected."""
    form = "s3://BUCKET/PREFIX/" if kind == "prefix" else "s3://BUCKET/PREFIX/NAME.jsonl"

    def bad(what: str) -> S3UrlError:
        return S3UrlError(f"{shown(without_userinfo(text))}: {what}; expected {form}")

    if not is_s3_url(text):
        raise bad("not an s3:// URL")
    rest = text[len(SCHEME) :]
    bucket, _, key = rest.partition("/")
    for char in "?#":
        if char in text:
            raise bad(f"{char!r} is not allowed (no query or fragment)")
    if "@" in bucket or (":" in bucket and "@" in rest):
        raise bad("credentials in the URL are not allowed (use the AWS credential chain)")
    if ":" in bucket:
        raise bad("a port belongs in --endpoint-url, not in the bucket")
    problem = bucket_problem(bucket) or key_problem(key)
    if problem:
        raise bad(problem)
    if kind == "prefix":
        if key and not key.endswith("/"):
            key += "/"
    elif not key or key.endswith("/"):
        raise bad("names a prefix, not an object (the file name is missing)")
    return S3Location(bucket, key)


def bucket_problem(bucket: str) -> str | None:
    """Why ``bucket`` is not an S3 bucket name, or None."""
    if not bucket:
        return "the bucket name is empty"
    if not _BUCKET.fullmatch(bucket):
        return (
            f"bucket {shown(bucket)!r} is not a bucket name (3 to 63 lowercase letters, "
            "digits, '.' and '-', starting and ending with a letter or digit)"
        )
    if ".." in bucket or ".-" in bucket or "-." in bucket:
        return f"bucket {bucket!r} is not a bucket name ('..', '.-' or '-.' in it)"
    if _IP.fullmatch(bucket):
        return f"bucket {bucket!r} is an IP address, not a bucket name"
    return None


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a key this tool writes or reads, or None."""
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return f"the key is over {MAX_KEY_BYTES} bytes"
    if "\\" in key:
        return "a backslash in the key is not allowed (use '/')"
    if any(unicodedata.category(c) in _INVISIBLE for c in key):
        return "the key holds a control or invisible character"
    segments = key.split("/")
    if key.endswith("/"):
        segments.pop()
    for segment in segments:
        if segment in (".", ".."):
            return f"a {segment!r} segment in the key is not allowed"
        if not segment and key:
            return "an empty segment ('//' or a leading '/') in the key is not allowed"
    return None
