"""pytest-llmbench: LLM benchmarks as pytest tests."""

from __future__ import annotations

from .warning import LLMBenchWarning

__all__ = ["LLMBenchWarning", "__version__"]
__version__ = "0.1.0"
