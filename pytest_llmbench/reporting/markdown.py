"""The markdown report for a PR comment, rendered from the run record alone."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2

from pytest_llmbench.reporting.text_format import interval, money, number, signed

MARKER = "<!-- llmbench-report -->"
# GitHub rejects comments over 65,536 characters; stay clear of it.
MAX_CHARS = 60_000
WORST_SAMPLES = 10
# What a worst sample shows of the judge's words (the record keeps up to 2,000 characters).
JUDGE_WORDS_CHARS = 600
COMPARE_ICONS = {
    "ok": "ok",
    "improved": "📈 improved",
    "regression": "📉 regression",
    "no overlap": "— no overlap",
}
ICONS = {"pass": "✅ pass", "warn": "⚠️ warn", "fail": "❌ fail", "no data": "❌ no data"}

_MENTION = re.compile(r"@(?=[A-Za-z0-9_])")


def md_text(value: object, limit: int = 160) -> str:
    """Sample text made inert in a markdown table cell: no HTML, no links or images, no
    @mentions, no pipes."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    # A backslash first, so that the escapes below cannot be undone by the text's own.
    text = text.replace("\\", "\\\\").replace("[", "\\[")  # no [link](…) or ![image](…)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("|", "\\|").replace("`", "'")
    # A zero-width joiner after @ stops GitHub from notifying anyone.
    return _MENTION.sub("@\u2060", text)


def md_code(value: object, limit: int | None = 200) -> str:
    """Text for inside a `code span`: GitHub renders no HTML or mentions there, but a
    backtick or a pipe would end the span or the table cell. ``limit=None`` never cuts
    (a command to copy must stay whole)."""
    text = " ".join(str(value).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("`", "'").replace("|", "\\|")


def badness(sample: Mapping[str, Any], higher: Sequence[str]) -> tuple[int, float, int]:
    """Sort key, worst first: unscored and errors, then the lowest mean judged score."""
    if sample["status"] != "scored":
        return (0, 0.0, 0)
    values = [sample["scores"][m] for m in higher if m in sample["scores"]]
    return (1, sum(values) / len(values) if values else 1.0, 0)


def worst_samples(scenario: Mapping[str, Any], limit: int = WORST_SAMPLES) -> list[dict[str, Any]]:
    higher = [n for n, m in scenario["metrics"].items() if m["better"] == "higher"]
    samples = list(enumerate(scenario["samples"]))
    samples.sort(key=lambda pair: (badness(pair[1], higher)[:2], pair[0]))
    chosen = [s for _, s in samples[:limit]]
    # Only show samples that are actually below par: unscored, or under a metric's pass.
    out = []
    for sample in chosen:
        below = [
            n
            for n, m in scenario["metrics"].items()
            if n in sample["scores"]
            and (
                sample["scores"][n] < m["pass"]
                if m["better"] == "higher"
                else sample["scores"][n] > m["pass"]
            )
        ]
        if sample["status"] != "scored" or below:
            out.append({**sample, "below": below})
    return out


def judge_words(sample: Mapping[str, Any]) -> tuple[str, str] | None:
    """(what, text) of the judge to show under a worst sample: its reasoning, else (for a
    sample the judge could not score) the reply it could not read."""
    reasoning = sample.get("judge_reasoning")
    if isinstance(reasoning, str) and reasoning.strip():
        return "Judge's reasoning", reasoning
    raw = sample.get("judge_raw")
    if sample.get("status") != "scored" and isinstance(raw, str) and raw.strip():
        return "Judge's reply", raw
    return None


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pytest_llmbench.reporting", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # markdown, escaped explicitly with md_text
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        md=md_text, code=md_code, num=number, interval=interval, signed=signed, money=money
    )
    env.globals.update(
        icons=ICONS,
        compare_icons=COMPARE_ICONS,
        worst_samples=worst_samples,
        judge_words=judge_words,
        words_limit=JUDGE_WORDS_CHARS,
    )
    return env


def render(
    record: Mapping[str, Any],
    *,
    footer: str = "",
    extra_sections: Sequence[str] = (),
    worst_limit: int = WORST_SAMPLES,
) -> str:
    template = _environment().get_template("report.md.j2")
    text = template.render(
        record=record,
        marker=MARKER,
        footer=footer,
        extra_sections=list(extra_sections),
        worst_limit=worst_limit,
    )
    # Too long for a comment: drop the per-sample detail, keep the verdict and tables.
    if len(text) > MAX_CHARS and worst_limit > 0:
        return render(record, footer=footer, extra_sections=extra_sections, worst_limit=0)
    if len(text) > MAX_CHARS:
        # Cut the tables, never the verdict (and footer) at the end.
        head, verdict, tail = text.rpartition("\n**Verdict: ")
        note = "\n\n_Report truncated to fit a GitHub comment; see the run record._\n"
        budget = MAX_CHARS - len(note) - len(verdict) - len(tail)
        text = head[:budget].rsplit("\n", 1)[0] + note + verdict + tail
    return text
