"""Fixtures shared by the test modules: a small benchmark project run the ways users do, the
`llmbench` command in this process, a fake GitHub with a pull request (helpers in support/)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

# httpx imports httpcore lazily and maps its exception classes once. If the first import
# happened inside an in-process pytester run, the snapshot restore would drop httpcore and
# a later re-import would bring new classes httpx no longer maps (ConnectError escapes).
import httpcore  # noqa: F401

# pytester restores sys.modules after each in-process run; hypothesis's plugin imports this
# in its terminal summary, so without it every run re-imports (and rewrites) hypothesis.
import hypothesis.internal.observability  # noqa: F401
import pytest
from hypothesis import settings
from support.cli import Run, run_llmbench
from support.comments import github_with_pull
from support.fake_github import FakeGitHub
from support.project import PROMPT, TEST_FILE, XDIST_MODES, Project, config_yaml, make_samples

# No test asserts on wall-clock time, and hypothesis's per-example deadline is one: on a
# loaded 2-core runner a 10 ms example takes 400 ms now and then (a DeadlineExceeded then
# reads as a failure of the parser under test).
settings.register_profile("llmbench", deadline=None)
settings.load_profile("llmbench")

# The S3 server fixtures (s3_server, s3) for the dataset sync and history tests; the
# promtool fixture for the metrics tests.
pytest_plugins = ("support.s3_server", "support.promtool")

# tests/perf holds measuring scripts run by hand, not tests (see tests/perf/README.md).
collect_ignore = ["perf"]


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.delenv("TEST_LLM_URL", raising=False)
    proj = Project(pytester)
    proj.write("prompts/digest_judge/v1.yaml", PROMPT)
    proj.write("benchmarks/test_digest.py", TEST_FILE)
    proj.dataset(make_samples([(0.9, 0.9), (0.85, 0.95), (0.95, 0.85), (0.9, 0.9)]))
    proj.config(config_yaml())
    return proj


@pytest.fixture(params=list(XDIST_MODES), ids=list(XDIST_MODES))
def xdist_args(request: pytest.FixtureRequest) -> list[str]:
    return list(XDIST_MODES[request.param])


@pytest.fixture
def llmbench(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """`llmbench(*args)` runs the command in this process: (exit status, stdout, stderr)."""
    return functools.partial(run_llmbench, capsys)


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    """The fake GitHub with pull request REPO#PR of support/comments.py."""
    with github_with_pull() as server:
        yield server
