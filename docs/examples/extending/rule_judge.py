"""A rule-based judge: `kind: rule_judge:KeywordJudge`, with its `options:` from the YAML."""

from __future__ import annotations

from pytest_llmbench import JudgeConfig, JudgeRequest, JudgeResult


class KeywordJudge:
    """Scores every metric asked for as the share of the required words the output has."""

    def __init__(self, config: JudgeConfig) -> None:
        self.required = [str(word).lower() for word in config.options.get("required", [])]

    async def score(self, request: JudgeRequest) -> JudgeResult:
        text = request.output.lower()
        found = sum(word in text for word in self.required)
        share = found / len(self.required) if self.required else 1.0
        return JudgeResult(status="scored", scores={name: share for name in request.metrics})

    async def aclose(self) -> None:
        """Nothing to release (an HTTP client would be closed here)."""
