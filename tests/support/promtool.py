"""promtool, Debian's Prometheus checker: the `promtool` fixture (its path; a skip where it is
missing, a failure when LLMBENCH_REQUIRE_PROMTOOL=1) and `promtool_check`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REQUIRE_PROMTOOL_ENV = "LLMBENCH_REQUIRE_PROMTOOL"


@pytest.fixture
def promtool() -> str:
    """Debian's promtool (package prometheus); a skip where it is missing, a failure when
    LLMBENCH_REQUIRE_PROMTOOL=1 (as in .ci/run)."""
    binary = shutil.which("promtool")
    if binary is None:
        message = "promtool is not installed (apt-get install prometheus)"
        if os.environ.get(REQUIRE_PROMTOOL_ENV) == "1":
            pytest.fail(f"{message}, and {REQUIRE_PROMTOOL_ENV}=1 requires it")
        pytest.skip(message)
    return binary


def promtool_check(promtool: str, path: Path) -> tuple[int, str]:
    """`promtool check metrics < path`: its exit status and everything it said."""
    with path.open("rb") as metrics:
        done = subprocess.run(
            [promtool, "check", "metrics"], stdin=metrics, capture_output=True, check=False
        )
    return done.returncode, (done.stdout + done.stderr).decode("utf-8", "replace")
