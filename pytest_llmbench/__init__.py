"""pytest-llmbench: LLM benchmarks as pytest tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_llmbench.warning import LLMBenchWarning

__all__ = ["LLMBenchWarning", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazily, because LLMBenchWarning subclasses a pytest warning and importing pytest costs
    # ~0.2 s: the judge's helper process imports this package and never needs pytest.
    if name == "LLMBenchWarning":
        from pytest_llmbench.warning import LLMBenchWarning

        return LLMBenchWarning
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
