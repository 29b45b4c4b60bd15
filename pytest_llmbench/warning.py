"""The warning a metric in its warn band raises from the controller's session finish."""

from __future__ import annotations

import pytest


class LLMBenchWarning(pytest.PytestWarning):
    """A benchmark metric is in its warn band (or a regression is configured as a warning)."""
