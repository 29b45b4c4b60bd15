"""Test helpers, imported as modules (`from support.judge_server import JudgeServer`)."""
