"""pytest-llmbench: LLM benchmarks as pytest tests.

The public names, loaded lazily: pytest (for ``LLMBenchWarning``) costs about 0.2 s to
import and the judge's helper process imports this package without ever needing it.
Everything else in the package is private to it, whatever its module is called.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_llmbench.benchmark.config import Variant
    from pytest_llmbench.benchmark.dataset import Sample
    from pytest_llmbench.benchmark.judge_config import JudgeConfig
    from pytest_llmbench.errors import RecordError, UserError
    from pytest_llmbench.judging.judge_protocol import Judge, JudgeRequest
    from pytest_llmbench.judging.result import JudgeResult
    from pytest_llmbench.results.record import load as load_record
    from pytest_llmbench.results.schema import (
        RunRecord,
        SamplePayload,
        SampleRecord,
        ScenarioRecord,
    )
    from pytest_llmbench.warning import LLMBenchWarning

    __version__: str

__all__ = [
    "Judge",
    "JudgeConfig",
    "JudgeRequest",
    "JudgeResult",
    "LLMBenchWarning",
    "RecordError",
    "RunRecord",
    "Sample",
    "SamplePayload",
    "SampleRecord",
    "ScenarioRecord",
    "UserError",
    "Variant",
    "__version__",
    "load_record",
]

# name -> (module, attribute)
_LAZY = {
    "LLMBenchWarning": ("pytest_llmbench.warning", "LLMBenchWarning"),
    "RecordError": ("pytest_llmbench.errors", "RecordError"),
    "UserError": ("pytest_llmbench.errors", "UserError"),
    "Sample": ("pytest_llmbench.benchmark.dataset", "Sample"),
    # What a scenario's `output:` function gets with `variants:` (and the `variant` fixture).
    "Variant": ("pytest_llmbench.benchmark.config", "Variant"),
    # The extension surface (README "Extending"): a `kind: module:Class` judge's types.
    "Judge": ("pytest_llmbench.judging.judge_protocol", "Judge"),
    "JudgeConfig": ("pytest_llmbench.benchmark.judge_config", "JudgeConfig"),
    "JudgeRequest": ("pytest_llmbench.judging.judge_protocol", "JudgeRequest"),
    "JudgeResult": ("pytest_llmbench.judging.result", "JudgeResult"),
    "load_record": ("pytest_llmbench.results.record", "load"),
    "RunRecord": ("pytest_llmbench.results.schema", "RunRecord"),
    "ScenarioRecord": ("pytest_llmbench.results.schema", "ScenarioRecord"),
    "SampleRecord": ("pytest_llmbench.results.schema", "SampleRecord"),
    "SamplePayload": ("pytest_llmbench.results.schema", "SamplePayload"),
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("pytest-llmbench")
        except PackageNotFoundError:  # run from a source tree that was never installed
            return "0+unknown"
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
