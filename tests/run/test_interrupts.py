"""The SIGTERM handler: raised as KeyboardInterrupt, installed only over the default, let
pass once session finish has begun, the previous handler restored."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_llmbench.run.interrupts import SigtermAsInterrupt

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture
def default_sigterm() -> Iterator[None]:
    """SIGTERM at its default for the test (this suite's own run has installed one)."""
    before = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def test_sigterm_raises_keyboard_interrupt_until_session_finish(default_sigterm: None) -> None:
    interrupts = SigtermAsInterrupt()
    interrupts.install()
    try:
        with pytest.raises(KeyboardInterrupt, match="signal SIGTERM"):
            signal.raise_signal(signal.SIGTERM)
        with pytest.raises(KeyboardInterrupt):  # again: like a second Ctrl-C
            signal.raise_signal(signal.SIGTERM)
        interrupts.finishing()
        signal.raise_signal(signal.SIGTERM)  # let pass: the record is being written
    finally:
        interrupts.uninstall()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_handler_someone_else_set_is_kept(default_sigterm: None) -> None:
    def theirs(signum: int, frame: Any) -> None:
        pass

    for handler in (theirs, signal.SIG_IGN):
        signal.signal(signal.SIGTERM, handler)
        interrupts = SigtermAsInterrupt()
        interrupts.install()
        assert signal.getsignal(signal.SIGTERM) is handler
        interrupts.uninstall()
        assert signal.getsignal(signal.SIGTERM) is handler


def test_outside_the_main_thread_nothing_is_installed(default_sigterm: None) -> None:
    interrupts = SigtermAsInterrupt()
    errors: list[BaseException] = []

    def install() -> None:
        try:
            interrupts.install()  # signal.signal would raise ValueError here
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=install)
    thread.start()
    thread.join()
    assert errors == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    interrupts.uninstall()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
