"""The markdown report for a PR comment, checked exactly: whole runs where the point is the
integration, the renderer on hand-built records where the point is the rendering."""

from __future__ import annotations

import re

# Imported before pytester snapshots sys.modules, so hypothesis' pytest plugin does not
# re-import it (about 3 s) in the terminal summary of every in-process run below.
import hypothesis  # noqa: F401
import pytest
from support.project import Project, config_yaml, make_samples, without_footer
from support.records import run_record, scenario_record

from pytest_llmbench.reporting import markdown as report
from pytest_llmbench.reporting.markdown import MARKER, md_code, md_text

WJ = "\u2060"  # the word joiner md_text puts after "@"


def run_report(project: Project, *args: str) -> tuple[pytest.RunResult, str]:
    result = project.run(*args, "--llmbench-report=out/report.md")
    text = (project.root / "out" / "report.md").read_text(encoding="utf-8")
    assert text.splitlines()[0] == MARKER
    assert re.search(r"\n---\n<sub>run \d{8}T\d{6}Z-[0-9a-f]{6} · \d+\.\d s</sub>\n\Z", text)
    return result, without_footer(text)


# -- whole runs, exact text ---------------------------------------------------------------

PASSING_REPORT = """\
<!-- llmbench-report -->
## llmbench: ✅ pass

### digest — ✅ pass

Judge: dry-run (auto: \\$TEST_LLM_URL is not set) · prompt `digest_judge@v1` · dataset `data/digest.jsonl` (4 scored of 4)

| metric | value | 95% CI | n | bands | status |
| --- | ---: | --- | ---: | --- | --- |
| coverage | 0.900 | 0.835 – 0.965 | 4 | pass ≥ 0.8, warn ≥ 0.7 | ✅ pass |
| accuracy | 0.900 | 0.835 – 0.965 | 4 | pass ≥ 0.8, warn ≥ 0.7 | ✅ pass |
| latency_seconds | 102.500 | 100.446 – 104.554 | 4 | pass ≤ 200, warn ≤ 300 | ✅ pass |

Judge calls: 0 · cached: 0 · retries: 0 · tokens: 0 in / 0 out

**Verdict: PASS**

"""


def test_passing_run_report_is_exact(project: Project, xdist_args: list[str]) -> None:
    result, text = run_report(project, *xdist_args)
    assert result.ret == 0
    assert text == PASSING_REPORT


WARN_REPORT = """\
<!-- llmbench-report -->
## llmbench: ⚠️ warn

### digest — ⚠️ warn

Judge: dry-run (auto: \\$TEST_LLM_URL is not set) · prompt `digest_judge@v1` · dataset `data/digest.jsonl` (5 scored of 5)

| metric | value | 95% CI | n | bands | status |
| --- | ---: | --- | ---: | --- | --- |
| coverage | 0.810 | 0.287 – 0.998 | 5 | pass ≥ 0.8, warn ≥ 0.7 | ✅ pass |
| accuracy | 0.790 | 0.100 – 1.000 | 5 | pass ≥ 0.9, warn ≥ 0.7 | ⚠️ warn |
| latency_seconds | 103.000 | 100.599 – 105.191 | 5 | pass ≤ 200, warn ≤ 300 | ✅ pass |

Judge calls: 0 · cached: 0 · retries: 0 · tokens: 0 in / 0 out

- accuracy of digest is in its warn band: 0.790 (pass ≥ 0.9, warn ≥ 0.7)

<details><summary>Worst samples (3)</summary>

| sample | status | scores | rerun |
| --- | --- | --- | --- |
| `s-05` | scored | **accuracy 0.70**, **coverage 0.70**, latency_seconds 105.00 | `pytest "benchmarks/test_digest.py::test_digest[s-05]"` |
| `s-03` | scored | **accuracy 0.50**, coverage 0.95, latency_seconds 103.00 | `pytest "benchmarks/test_digest.py::test_digest[s-03]"` |
| `s-02` | scored | accuracy 0.95, **coverage 0.60**, latency_seconds 102.00 | `pytest "benchmarks/test_digest.py::test_digest[s-02]"` |

</details>

**Verdict: WARN** — accuracy of digest is in its warn band: 0.790 (pass ≥ 0.9, warn ≥ 0.7)

"""


def test_warn_run_report_lists_the_worst_samples_worst_first(
    project: Project, xdist_args: list[str]
) -> None:
    # s-01 and s-04 are at par and stay out of the table; the others, by mean judged score.
    project.dataset(make_samples([(0.9, 0.9), (0.6, 0.95), (0.95, 0.5), (0.9, 0.9), (0.7, 0.7)]))
    project.config(config_yaml(accuracy=(0.9, 0.7)))
    result, text = run_report(project, *xdist_args)
    assert result.ret == 0
    assert text == WARN_REPORT


UNSCORED_REPORT = """\
<!-- llmbench-report -->
## llmbench: ❌ fail

### digest — ❌ fail

Judge: dry-run (auto: \\$TEST_LLM_URL is not set) · prompt `digest_judge@v1` · dataset `data/digest.jsonl` (2 scored, 1 unscored of 3)

| metric | value | 95% CI | n | bands | status |
| --- | ---: | --- | ---: | --- | --- |
| coverage | 0.900 | 0.900 – 0.900 | 2 | pass ≥ 0.8, warn ≥ 0.7 | ✅ pass |
| accuracy | 0.900 | 0.900 – 0.900 | 2 | pass ≥ 0.8, warn ≥ 0.7 | ✅ pass |
| latency_seconds | 102.000 | 99.516 – 104.484 | 3 | pass ≤ 200, warn ≤ 300 | ✅ pass |

Judge calls: 0 · cached: 0 · retries: 0 · tokens: 0 in / 0 out

- 1 of 3 samples of digest have no score, over the fail limit of 5% of the samples: no ground_truth for "accuracy" in sample "s-02"; the dry-run judge scores only … (1)

<details><summary>Worst samples (1)</summary>

| sample | status | scores | rerun |
| --- | --- | --- | --- |
| `s-02` | unscored: no ground_truth for "accuracy" in sample "s-02"; the dry-run judge scores only from stored ground_truth | latency_seconds 102.00 | `pytest "benchmarks/test_digest.py::test_digest[s-02]"` |

</details>

**Verdict: FAIL** — 1 of 3 samples of digest have no score, over the fail limit of 5% of the samples: no ground_truth for "accuracy" in sample "s-02"; the dry-run judge scores only … (1)

"""


def test_unscored_sample_heads_the_worst_samples_with_its_reason(
    project: Project, xdist_args: list[str]
) -> None:
    samples = make_samples([(0.9, 0.9)] * 3)
    del samples[1]["ground_truth"]["accuracy"]
    project.dataset(samples)
    result, text = run_report(project, *xdist_args)
    # The bands pass, but one sample of three has no score: over the default limit (5%).
    assert result.ret == 1
    assert text == UNSCORED_REPORT


def test_failing_run_report_starts_with_the_hidden_marker_and_ends_with_the_verdict(
    project: Project,
) -> None:
    project.config(config_yaml(coverage=(0.99, 0.95)))
    result = project.run("--llmbench-report=report.md")
    assert result.ret == 1
    lines = (project.root / "report.md").read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["<!-- llmbench-report -->", "## llmbench: ❌ fail"]
    assert lines[-4:] == [
        "**Verdict: FAIL** — coverage of digest is in its fail band: 0.900 "
        "(pass ≥ 0.99, warn ≥ 0.95)",
        "",
        "---",
        lines[-1],  # the footer: run id and duration
    ]


def test_ids_and_reasons_cannot_inject_html_mentions_links_or_break_the_table(
    project: Project,
) -> None:
    hostile_id = "@octocat <script>alert(1)</script> | `x` [a](http://e.vil)"
    samples = make_samples([(0.9, 0.9)] * 2)
    samples[0]["id"] = hostile_id
    project.dataset(samples)
    project.write(
        "benchmarks/test_digest.py",
        "import pytest\n\n\n@pytest.mark.llmbench('digest')\n"
        "def test_digest(sample, judge):\n"
        "    if sample.id.startswith('@'):\n"
        "        raise RuntimeError(\n"
        "            '<img src=x onerror=alert(1)> cc @team | `whoami` ![p](http://e.vil/p.png)'\n"
        "        )\n"
        "    judge(sample.output)\n",
    )
    result, text = run_report(project)
    assert result.ret == 1
    item = "octocat-script-alert-1-script-x-a-http-e.vil"
    row = (
        "| `@octocat <script>alert(1)</script> \\| 'x' [a](http://e.vil)` "
        "| error: RuntimeError: &lt;img src=x onerror=alert(1)&gt; cc @\u2060team \\| 'whoami' "
        f"!\\[p](http:{WJ}//e.vil/p.png) "
        f'| latency_seconds 101.00 | `pytest "benchmarks/test_digest.py::test_digest[{item}]"` |'
    )
    assert row in text.splitlines()
    # Outside code spans (where GitHub renders neither HTML nor mentions) nothing is live.
    prose = re.sub(r"`[^`\n]*`", "``", text)
    assert "<script" not in prose and "<img" not in prose
    assert "@team" not in prose and "@octocat" not in prose
    assert "](" not in prose.replace("\\[p](", "")
    assert "://" not in prose
    # Every table row still has exactly its cells: no pipe got through unescaped.
    table = [line for line in text.splitlines() if line.startswith("| `")]
    assert [len(re.split(r"(?<!\\)\|", line)) for line in table] == [6]


# -- the renderer on hand-built records ----------------------------------------------------


GITHUB_LIMIT = 65_536
HUGE_VERDICT = (
    "**Verdict: FAIL** — coverage of digest is in its fail band: 0.400 (pass ≥ 0.8, warn ≥ 0.7);"
    " accuracy of digest is in its fail band: 0.400 (pass ≥ 0.8, warn ≥ 0.7)"
)


def test_huge_run_fits_a_github_comment_with_its_verdict() -> None:
    ids = [f"{'very-long-sample-id-' * 20}{i:05d}" for i in range(3000)]
    record = run_record({"digest": scenario_record("digest", ids, 0.4)})
    text = report.render(record, footer="run x · 1.0 s")
    assert len(text) < GITHUB_LIMIT
    lines = text.splitlines()
    assert lines[0] == MARKER
    assert "## llmbench: ❌ fail" in lines
    assert HUGE_VERDICT in lines
    assert "<details><summary>Worst samples (10)</summary>" in lines
    # Each rerun command stays whole (a cut one would rerun nothing); the shown id is cut.
    rerun = [line.rsplit(" | ", 1)[1] for line in lines if line.startswith("| `very-long")]
    assert rerun[0] == f'`pytest "benchmarks/test_digest.py::test_digest[{ids[0]}]"` |'
    assert len(rerun) == 10


def test_report_too_long_for_a_comment_drops_the_worst_samples_first() -> None:
    ids = [f"{'x' * 1000}-{i}" for i in range(10)]
    scenarios = {f"s{n:02d}": scenario_record(f"s{n:02d}", ids, 0.4) for n in range(8)}
    text = report.render(run_record(scenarios))
    assert len(text) <= report.MAX_CHARS
    assert "<details>" not in text
    assert text.count("\n### s") == 8  # every scenario's table is still there
    # What was left out is said, outside any collapsed block, just before the verdict.
    lines = text.splitlines()
    assert lines[-3:-1] == [report.WORST_LEFT_OUT, ""]
    assert lines[-1].startswith("**Verdict: FAIL** — coverage of s00 ")


def test_report_still_too_long_is_cut_but_keeps_its_verdict_and_footer() -> None:
    scenarios = {f"s{n:03d}": scenario_record(f"s{n:03d}", ["a"], 0.9) for n in range(200)}
    text = report.render(run_record(scenarios), footer="run x · 1.0 s")
    assert len(text) <= report.MAX_CHARS
    assert text.splitlines()[0] == MARKER
    assert text.endswith(
        "\n\n_Report truncated to fit a GitHub comment; see the run record._\n"
        "\n**Verdict: PASS**\n\n---\n<sub>run x · 1.0 s</sub>\n"
    )


def test_worst_samples_show_the_judges_reasoning_escaped_and_bounded() -> None:
    scenario = scenario_record("digest", ["s-01", "s-02", "s-03"], 0.5)
    first, second, third = scenario["samples"]
    first["judge_reasoning"] = "Drops <b>the date</b>; cc @octocat [x](http://e.test) " + "z" * 900
    second.update(
        status="unscored",
        reason="unusable judge reply: ambiguous reply",
        scores={},
        judge_raw='{"coverage": 0} then {"coverage": 0.9}',
    )
    third["judge_raw"] = '{"coverage": 0.5}'  # scored with no reasoning: nothing to show
    text = report.render(run_record({"digest": scenario}))
    assert "<details><summary>Judge's reply: s-02</summary>" in text
    assert '> {"coverage": 0} then {"coverage": 0.9}' in text
    line = next(x for x in text.splitlines() if x.startswith("> Drops"))
    assert line.startswith(
        "> Drops &lt;b&gt;the date&lt;/b&gt;; cc @\u2060octocat \\[x](http:\u2060//e.test) zzz"
    )
    # Cut to JUDGE_WORDS_CHARS before escaping (which adds 15 characters here).
    assert line.endswith("z…") and len(line) == 2 + report.JUDGE_WORDS_CHARS + 15
    assert "<details><summary>Judge's reasoning: s-01</summary>" in text
    assert "s-03</summary>" not in text
    # The unscored sample heads the list, and its reply comes first too.
    assert text.index("Judge's reply: s-02") < text.index("Judge's reasoning: s-01")


# -- the escaping and number helpers ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain text", "plain text"),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("a & b &lt;", "a &amp; b &amp;lt;"),
        ("cc @octocat and @org/team", f"cc @{WJ}octocat and @{WJ}org/team"),
        ("mail me@example.com", f"mail me@{WJ}example.com"),
        ("a lone @ sign", "a lone @ sign"),
        ("a | b", "a \\| b"),
        ("`rm -rf /`", "'rm -rf /'"),
        ("[click](https://e.vil)", f"\\[click](https:{WJ}//e.vil)"),
        ("![pixel](https://e.vil/p.png)", f"!\\[pixel](https:{WJ}//e.vil/p.png)"),
        ("see www.e.vil or WWW.E.VIL", f"see www{WJ}.e.vil or WWW{WJ}.E.VIL"),
        ("fixes #12, o/r#3 and GH-4", f"fixes #{WJ}12, o/r#{WJ}3 and GH-{WJ}4"),
        ("since deadbeef12 (not 1234567)", f"since deadbe{WJ}ef12 (not 1234567)"),
        ("**bold** _it_ ~~gone~~ $x$", "\\*\\*bold\\*\\* \\_it\\_ \\~\\~gone\\~\\~ \\$x\\$"),
        ("snake_case_name", "snake_case_name"),  # inside a word `_` emphasises nothing
        ("- a list? # a heading?", "\\- a list? # a heading?"),
        ("1. first", "1\\. first"),
        ("## x", "\\## x"),
        ("C:\\path", "C:\\\\path"),
        ("\\| \\[", "\\\\\\| \\\\\\["),  # the text's own backslash cannot undo an escape
        ("line\nbreak\r\n\ttab   run", "line break tab run"),
        (None, "None"),
        (0.5, "0.5"),
    ],
)
def test_md_text_makes_sample_text_inert(value: object, expected: str) -> None:
    assert md_text(value) == expected


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        ("x" * 160, 160, "x" * 160),
        ("x" * 161, 160, "x" * 159 + "…"),
        ("abcdef", 4, "abc…"),
        ("<<<<<<", 3, "&lt;&lt;…"),  # cut before escaping: never half an entity
    ],
)
def test_md_text_cuts_long_text_before_escaping(value: str, limit: int, expected: str) -> None:
    assert md_text(value, limit) == expected


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        ("tg-0042", 200, "tg-0042"),
        ("<b>@octocat</b> & co", 200, "<b>@octocat</b> & co"),  # inert inside a code span
        ("a|b", 200, "a\\|b"),
        ("`x`", 200, "'x'"),
        ("two\nlines", 200, "two lines"),
        ("y" * 201, 200, "y" * 199 + "…"),
        ("y" * 61, 60, "y" * 59 + "…"),
        ("z" * 5000, None, "z" * 5000),
    ],
)
def test_md_code_keeps_a_code_span_and_its_cell_closed(
    value: str, limit: int | None, expected: str
) -> None:
    assert md_code(value, limit) == expected
