"""Mistakes a user can fix, as one hierarchy: each says where (file, line, key) and what to
do, in one line, and is caught in one place per front end (the pytest run's usage and
collection errors in ``run/start.py``, the ``llmbench`` command's exit 2 in ``cli/``).
A traceback is for a bug, never for one of these.

Loaded in every pytest run: standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path


class UserError(Exception):
    """A mistake in something the user gave: a file, an option, an environment variable.

    Raise with the whole sentence (``UserError("f.yaml:3: judge: unknown; use one of a")``)
    or with its parts (``UserError.at("f.yaml", 3, "judge", "unknown", "use one of a")``);
    either way ``str(error)`` is the one line to show.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message)
        self.file, self.line, self.key, self.fix = file, line, key, fix

    @classmethod
    def at(
        cls, file: str, line: int | None, key: str | None, what: str, fix: str | None = None
    ) -> UserError:
        """``file:line: key: what; fix``, the parts kept as attributes."""
        where = f"{file}:{line}" if line is not None else file
        text = f"{where}: {key}: {what}" if key else f"{where}: {what}"
        return cls(f"{text}; {fix}" if fix else text, file=file, line=line, key=key, fix=fix)


class ConfigError(UserError):
    """A mistake in the llmbench YAML (or in the options that locate it)."""


class DatasetError(UserError):
    """A dataset that cannot be read as samples: names the file and line."""


class PromptError(UserError):
    """A judge prompt that cannot be loaded or rendered: names the prompt file."""


class PromptNotFoundError(PromptError):
    """A ``name@version`` with no file behind it."""


class PromptRefError(PromptError):
    """A prompt reference not of the form ``name@version``."""


class RecordError(UserError):
    """A file that is not a run record this version can read; the message says why."""


class MergeError(UserError):
    """Shards that cannot be joined into one run; the message says which and why."""


class JudgeSetupError(UserError):
    """A judge that cannot run as configured (a live judge with no URL, say)."""


class OutputError(UserError):
    """An ``output:`` source that cannot be imported or called."""


def os_reason(error: Exception, path: object = None, root: Path | None = None) -> str:
    """Why a file could not be opened or written, in the OS's (or SQLite's) words: the
    sentence around it names ``path``, so the error's own file is added only when it is
    another one (the parent that is not a directory, say), relative to ``root``."""
    if not isinstance(error, OSError) or not error.strerror:
        return str(error) or type(error).__name__
    if error.filename is None or str(error.filename) == str(path):
        return error.strerror
    other = Path(os.fsdecode(error.filename))
    if root is not None and other.is_relative_to(root):
        other = other.relative_to(root)
    return f"{error.strerror}: {other}"
