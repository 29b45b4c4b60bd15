"""Directories that a command really cannot write, whoever runs the tests: read-only, or
on a full disk.

Read-only: as an ordinary user, ``chmod a-w`` does it. As root (these tests' usual
container) file modes stop no write, so the command runs in a mount namespace of its own
(``unshare --mount``) where the directory is bind-mounted read-only: writes fail with EROFS
and ``os.access(..., W_OK)`` says so, as on a read-only volume. Full: a tiny tmpfs mounted
over the directory in such a namespace, filled before the command starts (ENOSPC). A mount
ends with its command, so nothing is left to undo. Where neither is possible the test is
skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

Wrap = Callable[[list[str]], list[str]]

# In `sh -c SCRIPT DIRECTORY COMMAND...`: $0 is the directory, "$@" the command.
_READ_ONLY = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
_FULL = 'mount -t tmpfs -o size=64k tmpfs "$0" && { cat /dev/zero > "$0/.filler"; exec "$@"; }'


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[Wrap]:
    """Within the block, ``wrap(command)`` is `command` run with `directory` read-only."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [directory, *directory.rglob("*")]}
        for path, mode in modes.items():
            path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        try:
            yield lambda command: command
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    yield _in_namespace(_READ_ONLY, directory)


def full_disk(directory: Path) -> Wrap:
    """``wrap(command)``: `command` run with `directory` on a full disk of its own (empty
    when the command starts: what `directory` held is hidden under the mount)."""
    if os.geteuid() != 0:
        pytest.skip("a full disk of its own needs root (a tmpfs mount in a mount namespace)")
    return _in_namespace(_FULL, directory)


def _in_namespace(script: str, directory: Path) -> Wrap:
    directory.mkdir(parents=True, exist_ok=True)
    probe = ["unshare", "--mount", "sh", "-c", script, str(directory), "true"]
    if shutil.which("unshare") is None or (
        subprocess.run(probe, capture_output=True, check=False, timeout=30).returncode != 0
    ):
        pytest.skip("needs `unshare --mount` and mount (CAP_SYS_ADMIN)")
    return lambda command: ["unshare", "--mount", "sh", "-c", script, str(directory), *command]
