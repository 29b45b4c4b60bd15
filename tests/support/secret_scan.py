"""Looking for secrets in what a run left behind: every file under a folder (hidden ones
included) and every stream, for each secret whole and for every piece of FRAGMENT
characters of it (as much as the plugin promises to hide)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from pathlib import Path

from pytest_llmbench.redaction import FRAGMENT


def files_containing(root: Path, secret: str) -> list[str]:
    """Every file under root (hidden ones included) whose bytes contain the secret."""
    needle = secret.encode()
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and needle in path.read_bytes()
    )


def basic_auth(user: str, password: str) -> str:
    """The base64 an HTTP client sends for ``user:password``."""
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def needles(secrets: Iterable[str]) -> set[str]:
    """Each secret and each of its pieces of FRAGMENT characters."""
    found: set[str] = set()
    for secret in secrets:
        found.add(secret)
        found.update(secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1))
    return found


def hits(root: Path, streams: Mapping[str, str], secrets: Iterable[str]) -> list[str]:
    """``where: piece`` for every needle of ``secrets`` found in a file under ``root`` or in
    one of ``streams`` (name -> text); [] when nothing is found."""
    pieces = sorted(needles(secrets))
    found: list[str] = []
    texts = {
        str(path.relative_to(root)): path.read_bytes().decode("utf-8", "replace")
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }
    texts.update(streams)
    for where, text in texts.items():
        found += [f"{where}: {piece}" for piece in pieces if piece in text]
    return found
