"""Which judge runs, and what the header says about its key: resolve_mode over a table."""

from __future__ import annotations

import pytest
from support.judges import judge_config

from pytest_llmbench.errors import JudgeSetupError
from pytest_llmbench.judging.mode import resolve_mode

URL = "http://127.0.0.1:8000/v1"


@pytest.mark.parametrize(
    ("environ", "note"),
    [
        ({"K": "sk-1"}, ""),
        ({}, "no API key: K is unset"),
        ({"K": ""}, "no API key: K is empty"),
    ],
)
def test_a_live_judge_runs_with_or_without_its_key_and_says_which(
    environ: dict[str, str], note: str
) -> None:
    resolved = resolve_mode("auto", judge_config(URL, api_key_env="K"), environ)
    assert (resolved.mode, resolved.key_note) == ("live", note)


def test_a_judge_without_api_key_env_has_no_key_note() -> None:
    assert resolve_mode("live", judge_config(URL), {}).key_note == ""


def test_userinfo_and_a_key_together_are_refused_naming_the_judge() -> None:
    judge = judge_config("http://u:pw@127.0.0.1:8000", api_key_env="K")
    with pytest.raises(JudgeSetupError) as caught:
        resolve_mode("auto", judge, {"K": "sk-1"})
    assert str(caught.value) == (
        "judges.local: base_url has user:password@ and api_key_env ($K) gives a key too; "
        "both would be the Authorization header: keep one (remove api_key_env for basic "
        "auth, or the userinfo for the key)"
    )
    assert "pw" not in str(caught.value)


@pytest.mark.parametrize("environ", [{}, {"K": ""}])
def test_userinfo_with_an_unset_or_empty_key_is_basic_auth(environ: dict[str, str]) -> None:
    judge = judge_config("http://u:pw@127.0.0.1:8000", api_key_env="K")
    assert resolve_mode("auto", judge, environ).mode == "live"


def test_userinfo_and_a_key_do_not_matter_to_a_dry_run() -> None:
    judge = judge_config("http://u:pw@127.0.0.1:8000", api_key_env="K")
    assert resolve_mode("dry-run", judge, {"K": "sk-1"}).mode == "dry-run"
