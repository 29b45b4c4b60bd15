"""The PR report rendered as GitHub renders it (cmark-gfm with the autolink, tagfilter,
table and strikethrough extensions): text that came from a sample, a dataset, a judge or a
config puts no link, image, mention, reference, formatting, raw HTML or unclosed block into
it, and still reads, character for character. And the cut to GitHub's size limit keeps
every `<details>` closed, the verdict and the note of what was cut outside them."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support.records import run_record, scenario_record

from pytest_llmbench.reporting import markdown as report

CORPUS = Path(__file__).parents[1] / "fuzz" / "markup"
FIELDS = ("scenario", "metric", "id", "reason", "words", "problem", "footer", "baseline")
# Every element the template itself writes; anything else came from outside text.
TEMPLATE_TAGS = {
    "p", "h2", "h3", "table", "thead", "tbody", "tr", "th", "td", "code", "strong", "em",
    "blockquote", "ul", "li", "hr", "details", "summary", "sub",
}  # fmt: skip
BLOCKS = {"details", "summary", "sub"}  # raw HTML the template opens and must close
# What GitHub links in text outside code: mentions and e-mail, URLs, `www.`, issue and
# pull request references, and commit SHAs.
GITHUB_LINKS = re.compile(
    r"@[A-Za-z0-9_]|://|(?<![^\W_])www\.|#\d|(?<![^\W_])gh-\d"
    r"|(?<![^\W_])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}(?![^\W_])",
    re.I,
)


def gfm(markdown: str) -> str:
    """HTML as GitHub's renderer makes it. UNSAFE keeps raw HTML in the output, so that
    the test sees any raw HTML outside text smuggled in (GitHub's sanitizer would hide
    some of it, not all)."""
    html: str = cmarkgfm.github_flavored_markdown_to_html(markdown, Options.CMARK_OPT_UNSAFE)
    return html


class Page(HTMLParser):
    """The rendered page: every tag, text runs (with whether they are in code), and the
    `<details>` depth at which each text run sits."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.open: list[str] = []
        self.unbalanced: list[str] = []
        self.runs: list[tuple[str, bool, int]] = []  # (text, in code, details depth)
        self._text = ""
        self.feed(html)
        self.close()
        self._flush()

    def _flush(self) -> None:
        if self._text:
            depth = self.open.count("details")
            self.runs.append((self._text, "code" in self.open, depth))
            self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._flush()
        self.tags.append(tag)
        if tag in BLOCKS or tag == "code":
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self._flush()
        if tag in BLOCKS or tag == "code":
            if not self.open or self.open[-1] != tag:
                self.unbalanced.append(tag)
            else:
                self.open.pop()

    def handle_data(self, data: str) -> None:
        self._text += data

    def handle_comment(self, data: str) -> None:
        self._flush()
        self.tags.append("!--")

    def text(self) -> str:
        """What a reader sees: the word joiners are invisible."""
        return "\n".join(run for run, _, _ in self.runs).replace(report.WJ, "")


def shown(value: str) -> str:
    """How outside text reads on the page: on one line, a backtick shown as a quote, and
    without word joiners (invisible, and `Page.text` drops them from the page too)."""
    value = value.replace(report.WJ, "")
    return " ".join(value.split()).replace("`", "'").replace("\x00", "\ufffd")


def hostile_record(text: str, *, gated: bool = True) -> tuple[dict[str, Any], dict[str, str]]:
    """A failing run record with `text` (plus a tag naming the field) in every field the
    report shows: (the record, the value put in each field)."""
    values = {field: f"{text}⟨{field}⟩" for field in FIELDS}
    scenario = scenario_record("digest", [values["id"], "s-2", "s-3"], 0.5)
    metric = values["metric"]
    scenario["metrics"] = {metric: scenario["metrics"]["coverage"]}
    first, second, third = scenario["samples"]
    first.update(scores={metric: 0.5}, judge_reasoning=values["words"])
    second.update(status="unscored", reason=values["reason"], scores={}, judge_raw=text)
    third.update(status="error", reason=values["reason"], scores={})
    scenario["problems"] = [values["problem"]]
    scenario["fingerprints"]["judge"]["mode_reason"] = values["reason"]
    scenario["comparison"] = regression(metric, [(values["id"], first["nodeid"])])
    record = run_record({values["scenario"]: scenario}, gated=gated)
    record["problems"] = [values["problem"]]
    record["baseline"] = {
        "id": values["baseline"],
        "commit": "",
        "branch": values["baseline"],
        "date": values["baseline"],
    }
    if not gated:
        record["gate_note"] = values["reason"]
    return record, values


def regression(metric: str, samples: list[tuple[str, str]]) -> dict[str, Any]:
    """A baseline comparison with `metric` regressed and these (id, nodeid) samples as the
    most regressed."""
    return {
        "status": "regression",
        "method": "paired bootstrap",
        "underpowered": False,
        "reasons": [],
        "metrics": {
            metric: {
                "current": 0.5,
                "baseline": 0.9,
                "diff": -0.4,
                "ci95": [-0.5, -0.3],
                "compared": len(samples),
                "new": 0,
                "missing": 0,
                "status": "regression",
                "underpowered": False,
            }
        },
        "most_regressed": [
            {"id": sample_id, "drops": {metric: 0.4}, "nodeid": nodeid}
            for sample_id, nodeid in samples
        ],
    }


def assert_inert_and_readable(markdown: str, values: dict[str, str]) -> None:
    page = Page(gfm(markdown))
    assert set(page.tags) <= TEMPLATE_TAGS | {"!--"}, set(page.tags) - TEMPLATE_TAGS
    assert page.tags.count("!--") == 1  # the marker, and no comment from outside text
    assert (page.unbalanced, page.open) == ([], [])
    prose = [run for run, in_code, _ in page.runs if not in_code]
    assert [run for run in prose if GITHUB_LINKS.search(run)] == []
    text = page.text()
    for field, value in values.items():
        assert shown(value) in text, field


def markup(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.iterdir()))
@pytest.mark.parametrize("gated", [True, False], ids=["gated", "not-gated"])
def test_corpus_text_renders_inert_and_readable_on_github(name: str, gated: bool) -> None:
    record, values = hostile_record(markup(name).strip()[:40], gated=gated)
    assert_inert_and_readable(report.render(record, footer=values["footer"]), values)


# Text made of what markdown, HTML and GitHub give meaning to, among ordinary characters.
SPECIAL = [*"@#:/.<>&|`*_~$[]()!-+=\\\"' \n\t", "://", "www.", "gh-", "&lt;", "<!--"]
PLAIN = st.characters(codec="utf-8", exclude_categories=["Cs"])
hostile_text = st.lists(st.sampled_from(SPECIAL) | PLAIN | st.sampled_from("0123456789abcdef"))


@settings(max_examples=150, deadline=None)
@given(parts=hostile_text)
@example(parts=["**b** _i_ ~~s~~ https://e.vil www.e.vil a@b.co @octocat #1 o/r#2 GH-3"])
@example(parts=["<details><summary>x", "</details>", "<img src=x>", "```", "~~~"])
@example(parts=["deadbeefcafe1234", " - ", "1. ", "> ", "# "])
@example(parts=["\u2060"])  # a word joiner of its own: invisible on the page
def test_any_outside_text_renders_inert_and_readable_on_github(parts: list[str]) -> None:
    text = "".join(parts)[:40]
    record, values = hostile_record(text)
    assert_inert_and_readable(report.render(record, footer=values["footer"]), values)


# -- the cut to GitHub's size limit ------------------------------------------------------


def big_record(scenarios: int, samples: int, text: str) -> dict[str, Any]:
    blocks = {}
    for n in range(scenarios):
        name = f"s{n}{text}"
        block = scenario_record(name, [f"{text}-{i}" for i in range(samples)], 0.5)
        for sample in block["samples"]:
            sample["judge_reasoning"] = f"{text} " * 20
        pairs = [(s["id"], s["nodeid"]) for s in block["samples"]]
        block["comparison"] = regression("coverage", pairs)
        blocks[name] = block
    return run_record(blocks)


@settings(max_examples=120, deadline=None)
@given(
    scenarios=st.integers(1, 6),
    samples=st.integers(1, 12),
    text=st.text(st.sampled_from("ab<>|*_@#\n `"), max_size=12),
    limit=st.integers(0, 30_000),
)
def test_the_cut_keeps_details_closed_and_the_verdict_and_note_outside(
    scenarios: int, samples: int, text: str, limit: int
) -> None:
    record = big_record(scenarios, samples, text)
    full = report.render(record, footer="run x")
    smallest = report.render(record, footer="run x", max_chars=0)
    cut = report.render(record, footer="run x", max_chars=limit)
    assert cut.splitlines()[0] == report.MARKER
    assert len(cut) <= max(limit, len(smallest))
    if len(full) <= limit:
        assert cut == full
    page = Page(gfm(cut))
    assert (page.unbalanced, page.open) == ([], [])
    lines = [line for line in cut.splitlines() if line.strip()]
    opened = [x for x in lines if x.startswith("<details>")]
    assert len(opened) == lines.count("</details>")
    outside = [run.replace(report.WJ, "") for run, _, depth in page.runs if depth == 0]
    assert "Verdict: FAIL" in outside
    assert lines[-3].startswith("**Verdict: FAIL**")
    assert lines[-2:] == ["---", "<sub>run x</sub>"]
    if cut != full:
        notes = [run for run in outside if "to fit a GitHub comment" in run]
        assert notes, "a cut report says what it left out"
        if report.WORST_SUMMARY in full:
            assert report.WORST_LEFT_OUT.strip("_") in notes


def test_a_cut_inside_most_regressed_closes_it_before_the_note_and_verdict() -> None:
    record = big_record(3, 12, "x")
    slim = report.render(record, worst_limit=0)
    inside = slim.index("| `x-5` |", slim.index("### s1x"))
    cut = report.render(record, max_chars=inside + 200)
    lines = cut.splitlines()
    assert len(cut) <= inside + 200
    assert lines[-8:] == [
        "",
        "</details>",
        "",
        report.WORST_LEFT_OUT,
        "",
        report.TRUNCATED,
        "",
        lines[-1],
    ]
    assert lines[-1].startswith("**Verdict: FAIL** — coverage of s0x is in its fail band")
