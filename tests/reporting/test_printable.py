"""The terminal shows text, not control sequences: what comes from outside (sample ids,
dataset keys, a judge's words) cannot repaint it."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from support.project import Project, make_samples

from pytest_llmbench.reporting.text_format import printable

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@given(st.text())
def test_no_control_character_survives(text: str) -> None:
    assert not CONTROL.search(printable(text))


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs"))))
def test_text_without_controls_is_unchanged(text: str) -> None:
    if not CONTROL.search(text):
        assert printable(text) == text


def test_an_escape_is_shown_not_sent() -> None:
    assert printable("all samples \x1b[32mPASSED\x1b[0m") == (
        "all samples \\x1b[32mPASSED\\x1b[0m"
    )


def test_a_hostile_sample_id_reaches_the_terminal_escaped(project: Project) -> None:
    samples = make_samples([(0.9, 0.9)] * 3)
    samples[0]["id"] = "\x1b[2J\x1b[Hall samples PASSED"
    del samples[0]["ground_truth"]["accuracy"]  # unscored: its reason names the id
    project.dataset(samples)
    result = project.run()
    out = result.stdout.str()
    assert "\x1b[2J" not in out and "\x1b[H" not in out
    assert "\\x1b[2J\\x1b[Hall samples PASSED" in out
