"""SIGTERM as Ctrl-C: a CI runner cancels a job with SIGTERM, whose default action ends the
process before session finish, so no record and no verdict. Raised as KeyboardInterrupt
instead, pytest ends the run as interrupted and the controller writes the partial record."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any


class SigtermAsInterrupt:
    """Installed once per pytest run (controller, single process and xdist worker alike: a
    runner that signals the whole process group reaches the workers too, and a worker
    interrupted this way reports its interrupt to the controller instead of vanishing)."""

    def __init__(self) -> None:
        self._previous: Any = None
        self._installed = False
        self._finishing = False

    def install(self) -> None:
        # Only the main thread may set handlers. On Windows SIGTERM from another process is
        # TerminateProcess, which runs no handler. A handler someone else set (or SIG_IGN)
        # is theirs to keep: only the default, which loses the record, is replaced.
        if sys.platform == "win32" or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        self._installed = True

    def finishing(self) -> None:
        """Session finish has begun: the run is ending anyway, and an interrupt raised now
        would cost the record being written, so a later SIGTERM is let pass."""
        self._finishing = True

    def uninstall(self) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous)
            self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        __tracebackhide__ = True  # pytest then names the line the signal interrupted
        if self._finishing:
            return
        # Each time, like Ctrl-C: a test that swallowed the first one is interrupted again.
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")
