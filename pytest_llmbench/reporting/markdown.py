"""The markdown report for a PR comment, rendered from the run record alone."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2

from pytest_llmbench.reporting.terminal import variant_comparison
from pytest_llmbench.reporting.text_format import interval, judge_noise, money, number, signed
from pytest_llmbench.reporting.variants_table import differences_rows, side_by_side_rows

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

WJ = "\u2060"  # a word joiner: invisible, and it breaks every pattern GitHub links

# What GitHub turns into a link, a notification or a cross-reference in plain text, and
# where the word joiner goes to stop it: `@user` and e-mail, `scheme://` and `www.`,
# `#123` / `owner/repo#123` / `GH-123`.
_LINKISH = re.compile(
    r"(?P<at>@)(?=\S)"
    r"|(?P<colon>:)(?=//)"
    r"|(?i:(?<![^\W_])(?P<www>www)(?=\.))"
    r"|(?P<hash>#)(?=\d)"
    r"|(?i:(?<![^\W_])(?P<gh>gh-)(?=\d))"
)
# A commit SHA (GitHub links 7 to 40 hex digits with a letter and a digit): a word joiner
# every 6 digits leaves no run long enough.
_HEX = re.compile(
    r"(?<![^\W_])(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{7,}(?![^\W_])"
)
# Emphasis and strike-through (`*`, `~`, `_` that is not inside a word), math (`$`).
_EMPHASIS = re.compile(r"[*~$]|(?<![^\W_])_|_(?![^\W_])")
# A list item, heading, setext line or ordered list if the text starts a line (a quote).
_BLOCK_START = re.compile(r"^(?:[-+=#](?=[-+=#\s]|$)|\d{1,9}(?=[.)](?:\s|$)))")


def _unlink(text: str) -> str:
    text = _HEX.sub(lambda m: WJ.join(re.findall(".{1,6}", m.group(0))), text)
    return _LINKISH.sub(lambda m: m.group(0) + WJ, text)


def _one_line(value: object, limit: int | None) -> str:
    text = " ".join(str(value).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _escape_block_start(match: re.Match[str]) -> str:
    found = match.group(0)
    return found + "\\" if found[0].isdigit() else "\\" + found  # `1\.` or `\-`


def md_text(value: object, limit: int = 160) -> str:
    """Outside text made inert where markdown is read (a table cell, a list item, a quote,
    a heading): one line, no HTML, links, images, emphasis, mentions, cross-references or
    pipes; every character still shows."""
    text = _one_line(value, limit)
    # A backslash first, so that the escapes below cannot be undone by the text's own.
    text = text.replace("\\", "\\\\").replace("[", "\\[")  # no [link](…) or ![image](…)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("|", "\\|").replace("`", "'")
    text = _EMPHASIS.sub(lambda m: "\\" + m.group(0), text)
    text = _BLOCK_START.sub(_escape_block_start, text)
    return _unlink(text)


def html_text(value: object, limit: int = 160) -> str:
    """Outside text made inert inside raw HTML (a `<summary>`), where markdown is not read
    but GitHub still links mentions and references: HTML-escaped and unlinked."""
    text = _one_line(value, limit)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _unlink(text)


def md_code(value: object, limit: int | None = 200) -> str:
    """Text for inside a `code span`: GitHub renders no HTML or mentions there, but a
    backtick or a pipe would end the span or the table cell. ``limit=None`` never cuts
    (a command to copy must stay whole)."""
    return _one_line(value, limit).replace("`", "'").replace("|", "\\|")


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
        md=md_text,
        html=html_text,
        code=md_code,
        num=number,
        interval=interval,
        signed=signed,
        money=money,
        noise=judge_noise,
    )
    env.globals.update(
        icons=ICONS,
        compare_icons=COMPARE_ICONS,
        worst_samples=worst_samples,
        judge_words=judge_words,
        words_limit=JUDGE_WORDS_CHARS,
        side_by_side_rows=side_by_side_rows,
        differences_rows=differences_rows,
        variant_comparison=variant_comparison,
    )
    return env


def render(
    record: Mapping[str, Any],
    *,
    footer: str = "",
    extra_sections: Sequence[str] = (),
    worst_limit: int = WORST_SAMPLES,
    max_chars: int = MAX_CHARS,
) -> str:
    """The report, at most ``max_chars`` long: too long, it first leaves out the worst
    samples, then cuts the tables at a line outside any ``<details>``. The marker, a note
    of what was left out and the verdict (with the footer) always stay, outside every
    collapsed block; so a ``max_chars`` below their length is exceeded."""
    text = _render(record, footer, extra_sections, worst_limit)
    if len(text) <= max_chars:
        return text
    notes = []
    if worst_limit > 0 and WORST_SUMMARY in text:
        text = _render(record, footer, extra_sections, 0)
        notes.append(WORST_LEFT_OUT)
    body, ending = split_verdict(text)
    if len(body) + len(_notes(notes)) + len(ending) <= max_chars:
        return body + _notes(notes) + ending
    notes.append(TRUNCATED)
    return cut_body(body, max_chars - len(_notes(notes)) - len(ending)) + _notes(notes) + ending


WORST_SUMMARY = "<details><summary>Worst samples ("
WORST_LEFT_OUT = "_Worst samples left out to fit a GitHub comment; see the run record._"
TRUNCATED = "_Report truncated to fit a GitHub comment; see the run record._"
_VERDICT_LINE = re.compile(r"^\*\*(?:Verdict: |Not gated\*\*)", re.M)
_CLOSE = "</details>\n\n"


def _render(
    record: Mapping[str, Any], footer: str, extra_sections: Sequence[str], worst_limit: int
) -> str:
    return (
        _environment()
        .get_template("report.md.j2")
        .render(
            record=record,
            marker=MARKER,
            footer=footer,
            extra_sections=list(extra_sections),
            worst_limit=worst_limit,
        )
    )


def _notes(notes: Sequence[str]) -> str:
    return "".join(f"{note}\n\n" for note in notes)


def split_verdict(text: str) -> tuple[str, str]:
    """(the tables, the verdict line and the footer): outside text cannot start a line or
    hold `**`, so the last line starting with the verdict's words is the verdict."""
    starts = [m.start() for m in _VERDICT_LINE.finditer(text)]
    if not starts:  # a template without a verdict line: nothing to keep apart
        return text, ""
    return text[: starts[-1]], text[starts[-1] :]


def cut_body(body: str, budget: int) -> str:
    """The longest run of whole lines of ``body`` that, with a ``</details>`` for each
    collapsed block left open, fits ``budget``; never less than the marker line."""
    lines = body.splitlines(keepends=True)
    size, depth = 0, 0
    kept, open_at_cut = 1, 0  # the marker line alone, whatever the budget
    for index, line in enumerate(lines):
        size += len(line)
        if line.startswith("<details>"):
            depth += 1
        elif line.strip() == "</details>" and depth:
            depth -= 1
        if index > 0 and size + _closing(depth) > budget:
            break
        kept, open_at_cut = index + 1, depth
    depth = open_at_cut
    out = "".join(lines[:kept])
    if not out.endswith("\n"):
        out += "\n"
    if depth:
        out += ("" if out.endswith("\n\n") else "\n") + _CLOSE * depth
    elif not out.endswith("\n\n"):
        out += "\n"
    return out


def _closing(depth: int) -> int:
    """At most what `cut_body` appends after a cut with ``depth`` blocks left open: a line
    end, a blank line and the closing tags."""
    return 2 + len(_CLOSE) * depth
