"""Bad input, run the way users run it: each mistake ends in the right exit code and one
exact message that names the file, line or key and the fix, never in a traceback."""

from __future__ import annotations

import json
import re

# Imported before pytester snapshots sys.modules, so hypothesis' pytest plugin does not
# re-import it (about 3 s) in the terminal summary of every in-process run below.
import hypothesis  # noqa: F401
import pytest
from support import corpus as corpus_mod
from support.judge_server import JudgeServer
from support.project import (
    PROMPT,
    TEST_FILE,
    Project,
    config_yaml,
    live_judge_yaml,
    make_samples,
)

from pytest_llmbench.benchmark.config import _SCENARIO_KEYS as SCENARIO_KEYS
from pytest_llmbench.datasets import manifest

USAGE_ERROR = pytest.ExitCode.USAGE_ERROR  # 4: a usage error, raised before collection
COLLECTION_ERROR = pytest.ExitCode.INTERRUPTED  # 2: "ERROR collecting", nothing runs

# A frame of a pytest-style traceback ("path/file.py:42: in func") or a Python one.
_FRAME = re.compile(r"\.py:\d+: in |^Traceback \(most recent call last\)", re.MULTILINE)


def exact(line: str) -> str:
    """An fnmatch pattern that matches `line` and nothing else."""
    return re.sub(r"([*?\[])", r"[\1]", line)


def assert_no_traceback(result: pytest.RunResult) -> None:
    text = result.stdout.str() + "\n" + result.stderr.str()
    assert "INTERNALERROR" not in text
    assert not _FRAME.search(text), text
    assert "pytest_llmbench" not in text, text  # no frame or exception class of the plugin


def assert_usage_error(result: pytest.RunResult, message: str) -> None:
    assert result.ret == USAGE_ERROR
    result.stderr.fnmatch_lines([exact(f"ERROR: {message}")])
    assert_no_traceback(result)


def assert_collection_error(
    result: pytest.RunResult, message: str, path: str = "benchmarks/test_digest.py"
) -> None:
    assert result.ret == COLLECTION_ERROR
    result.stdout.fnmatch_lines(
        [f"*_ ERROR collecting {path} _*", exact(message), "*Interrupted: 1 error*"]
    )
    assert_no_traceback(result)


def write_lines(project: Project, *lines: str) -> None:
    project.write("data/digest.jsonl", "".join(line + "\n" for line in lines))


def good_line(number: int = 1) -> str:
    sample = make_samples([(0.9, 0.9)] * number)[number - 1]
    return json.dumps(sample, ensure_ascii=False)


# -- the dataset ---------------------------------------------------------------------------


def test_malformed_jsonl_line_names_file_and_line(project: Project) -> None:
    write_lines(project, good_line(1), '{"id": "s-02", "input": ')
    result = project.run()
    assert_collection_error(
        result,
        "data/digest.jsonl:2: not valid JSON (Expecting value at column 25); "
        "each line must be one JSON object",
    )
    assert project.records() == []


def test_a_line_that_is_an_array_is_rejected(project: Project) -> None:
    write_lines(project, good_line(1), '["s-02", "text"]')
    result = project.run()
    assert_collection_error(result, "data/digest.jsonl:2: line is a JSON array, expected an object")


def test_a_sample_without_an_id_names_its_line(project: Project) -> None:
    samples = make_samples([(0.9, 0.9)] * 3)
    del samples[2]["id"]
    project.dataset(samples)
    result = project.run()
    assert_collection_error(
        result, 'data/digest.jsonl:3: missing "id"; every sample needs a unique id'
    )


def test_duplicate_ids_name_both_lines(project: Project) -> None:
    samples = make_samples([(0.9, 0.9)] * 4)
    samples[3]["id"] = "s-02"
    project.dataset(samples)
    result = project.run()
    assert_collection_error(result, 'data/digest.jsonl:4: duplicate id "s-02" (first on line 2)')


def test_an_empty_dataset_is_an_error_not_an_empty_pass(project: Project) -> None:
    write_lines(project, "", "   ")
    result = project.run()
    assert_collection_error(result, "data/digest.jsonl: no samples; write one JSON object per line")


def test_a_missing_dataset_file_is_a_usage_error_naming_the_config_key(project: Project) -> None:
    (project.root / "data" / "digest.jsonl").unlink()
    result = project.run()
    assert_usage_error(
        result,
        f"benchmarks/llmbench.yaml:9: scenarios.digest.dataset: dataset file not found: "
        f"{project.root}/data/digest.jsonl; check the path, relative paths resolve against "
        f"the rootdir {project.root}",
    )


# -- the llmbench YAML and the prompts ----------------------------------------------------


def test_bad_yaml_syntax_names_the_line(project: Project) -> None:
    project.config(config_yaml().replace("judge: default\n", "judge: [default\n"))
    result = project.run()
    assert_usage_error(
        result,
        "benchmarks/llmbench.yaml:12: not valid YAML (while parsing a flow sequence, did not "
        "find expected ',' or ']'); fix the YAML syntax",
    )


def test_unknown_key_suggests_the_known_one(project: Project) -> None:
    project.config(config_yaml().replace("    smoke: 2\n", "    smoek: 2\n"))
    result = project.run()
    assert_usage_error(
        result,
        "benchmarks/llmbench.yaml:12: scenarios.digest.smoek: unknown key; expected one of "
        f"{', '.join(sorted(SCENARIO_KEYS))} (did you mean 'smoke'?)",
    )


def test_warn_band_stricter_than_pass_is_rejected(project: Project) -> None:
    project.config(config_yaml(accuracy=(0.7, 0.8)))
    result = project.run()
    assert_usage_error(
        result,
        "benchmarks/llmbench.yaml:15: scenarios.digest.metrics.accuracy.warn: warn (0.8) is "
        "above pass (0.7), but with better: higher a value must reach warn before pass; "
        "set warn to at most 0.7",
    )


def test_unknown_judge_lists_the_defined_ones(project: Project) -> None:
    project.config(config_yaml().replace("judge: default", "judge: defualt"))
    result = project.run()
    assert_usage_error(
        result,
        "benchmarks/llmbench.yaml:11: scenarios.digest.judge: unknown judge 'defualt'; "
        "defined judges: default (did you mean 'default'?)",
    )


def test_missing_prompt_version_lists_the_existing_versions(project: Project) -> None:
    project.write("prompts/digest_judge/v0.yaml", PROMPT)
    project.config(config_yaml().replace("digest_judge@v1", "digest_judge@v2"))
    result = project.run()
    assert_usage_error(
        result,
        f"benchmarks/llmbench.yaml:10: scenarios.digest.prompt: prompt file not found: "
        f"{project.root}/prompts/digest_judge/v2.yaml; versions of 'digest_judge' that "
        "exist: v0, v1",
    )


def test_bad_jinja2_in_a_prompt_names_the_prompt_file_and_line(project: Project) -> None:
    project.write("prompts/digest_judge/v1.yaml", PROMPT.replace("{{ output }}", "{{ output }"))
    result = project.run()
    assert_usage_error(
        result,
        "prompts/digest_judge/v1.yaml:10: user: bad Jinja2 syntax (unexpected '}'); "
        "fix the template",
    )


def test_undefined_prompt_variable_fails_only_the_samples_it_hits_naming_the_prompt(
    project: Project,
) -> None:
    # StrictUndefined bites at judge time: only s-03 lacks the field the prompt reads.
    project.write(
        "prompts/digest_judge/v1.yaml",
        PROMPT.replace("  Posts:\n", "  Channel: {{ sample.channel }}\n  Posts:\n"),
    )
    samples = make_samples([(0.9, 0.9)] * 4)
    for sample in samples:
        sample["channel"] = "news"
    del samples[2]["channel"]
    project.dataset(samples)
    result = project.run()
    assert result.ret == 1
    result.assert_outcomes(passed=3, failed=1)
    message = (
        "prompts/digest_judge/v1.yaml: user: undefined variable (sample has no attribute "
        "'channel') rendering sample 's-03'; the template sees sample (fields: ground_truth, "
        "id, input, latency_seconds, output, reference), output and metrics"
    )
    result.stdout.fnmatch_lines(
        # The bands pass; the one sample without a score (1 of 4) is over the default
        # unscored limit (5%), so the verdict fails.
        ["*_ test_digest[[]s-03[]] _*", exact(message), "*= llmbench =*", "digest: FAIL  *"]
    )
    assert_no_traceback(result)
    (record,) = project.records()
    samples_out = record["scenarios"]["digest"]["samples"]
    assert [(s["id"], s["status"]) for s in samples_out] == [
        ("s-01", "scored"),
        ("s-02", "scored"),
        ("s-03", "error"),
        ("s-04", "scored"),
    ]
    assert samples_out[2]["reason"] == f"Failed: {message}"


# -- the judge option ---------------------------------------------------------------------


def test_live_judge_without_its_url_is_a_usage_error_naming_the_variable(
    project: Project, xdist_args: list[str]
) -> None:
    result = project.run("--llmbench-judge=live", *xdist_args)
    message = (
        "--llmbench-judge=live but judge 'default' has no base_url (${TEST_LLM_URL}): "
        "set $TEST_LLM_URL or use --llmbench-judge=auto"
    )
    # The same usage error in every xdist mode: asked for live, it cannot be live.
    assert_usage_error(result, message)
    assert project.records() == []


def test_unknown_judge_option_is_an_argparse_error(project: Project) -> None:
    result = project.run("--llmbench-judge=bogus")
    assert result.ret == USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*error: argument --llmbench-judge: invalid choice: 'bogus' "
            "(choose from 'auto', 'live', 'dry-run')"
        ]
    )
    assert_no_traceback(result)


def test_unknown_judge_in_the_ini_file_is_a_usage_error(project: Project) -> None:
    project.write("pytest.ini", "[pytest]\nllmbench_judge = bogus\n")
    result = project.run()
    assert_usage_error(
        result, "llmbench_judge = 'bogus' in the ini file: use one of auto, live, dry-run"
    )


# -- the test files -----------------------------------------------------------------------


def test_marked_test_without_a_config_says_how_to_add_one(project: Project) -> None:
    (project.root / "benchmarks" / "llmbench.yaml").unlink()
    result = project.run()
    assert_collection_error(
        result,
        "tests marked llmbench need a config: create benchmarks/llmbench.yaml or pass "
        "--llmbench-config=PATH (or set llmbench_config in the ini file)",
    )


def test_marked_with_an_unknown_scenario_lists_the_defined_ones(project: Project) -> None:
    project.write("benchmarks/test_digest.py", TEST_FILE.replace('"digest"', '"digets"'))
    result = project.run()
    assert_collection_error(
        result,
        "@pytest.mark.llmbench('digets'): no such scenario in llmbench.yaml; "
        "defined scenarios: digest",
    )


def test_marker_without_a_scenario_name_shows_the_usage(project: Project) -> None:
    project.write("benchmarks/test_digest.py", TEST_FILE.replace('("digest")', ""))
    result = project.run()
    assert_collection_error(result, "test_digest: use @pytest.mark.llmbench('<scenario name>')")


def test_marked_test_not_taking_sample_says_to_add_it(project: Project) -> None:
    project.write(
        "benchmarks/test_digest.py",
        "import pytest\n\n\n@pytest.mark.llmbench('digest')\n"
        "def test_digest(judge):\n    judge('text')\n",
    )
    result = project.run()
    assert_collection_error(
        result,
        "test_digest is marked llmbench('digest') but takes no 'sample' argument; "
        "add it: def test_digest(sample, judge)",
    )


def test_smoke_list_naming_an_unknown_id_is_an_error(project: Project) -> None:
    project.config(config_yaml(smoke="[s-01, s-99, s-98]"))
    result = project.run("-m", "smoke")
    assert_collection_error(
        result,
        "scenario 'digest': smoke ids not in data/digest.jsonl: s-99, s-98; "
        "fix the smoke: list in the llmbench config",
    )


def test_missing_config_option_path_is_a_usage_error(project: Project) -> None:
    result = project.run("--llmbench-config=does/not/exist.yaml")
    assert_usage_error(
        result,
        f"--llmbench-config=does/not/exist.yaml: file not found: "
        f"{project.root}/does/not/exist.yaml; check the path (relative paths resolve "
        "against the current directory)",
    )


# -- nothing is lost ----------------------------------------------------------------------


def test_a_failed_judge_call_still_records_every_other_sample(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (test_live_judge.py runs misbehaving judges under each xdist mode.)
    project.config(
        config_yaml(
            judge_block="judges:\n  default:\n    kind: openai\n    base_url: ${TEST_LLM_URL}\n"
            "    model: test-model\n    retries: {attempts: 2, max_wait_s: 1, base_s: 0.01}\n"
        )
    )
    with JudgeServer() as server:
        # The judge refuses s-03 outright (not retryable); every other sample is scored.
        server.script_for("Пост номер 3:", [("status", 403)] * 4)
        monkeypatch.setenv("TEST_LLM_URL", server.url)
        result = project.run()
    assert result.ret == 1
    result.assert_outcomes(passed=3, failed=1)
    assert_no_traceback(result)
    (record,) = project.records()
    samples = record["scenarios"]["digest"]["samples"]
    assert [(s["id"], s["status"]) for s in samples] == [
        ("s-01", "scored"),
        ("s-02", "scored"),
        ("s-03", "unscored"),
        ("s-04", "scored"),
    ]
    assert "403" in samples[2]["reason"]
    assert all(set(s["scores"]) >= {"coverage", "accuracy"} for s in samples if s["id"] != "s-03")
    assert record["scenarios"]["digest"]["metrics"]["coverage"]["n"] == 3
    assert not list((project.root / ".llmbench" / "runs").glob("*.partial.jsonl"))


UNMARKED_TESTS = """\
def test_uses_judge(judge):
    judge("text")


def test_uses_sample(sample):
    pass


def test_uses_output(output):
    pass
"""


@pytest.mark.parametrize("with_config", [True, False], ids=["with-config", "no-config"])
def test_llmbench_fixtures_in_an_unmarked_test_error_with_the_test_and_the_fix(
    project: Project, with_config: bool
) -> None:
    if not with_config:
        (project.root / "benchmarks" / "llmbench.yaml").unlink()
        (project.root / "benchmarks" / "test_digest.py").unlink()
    project.write("benchmarks/test_unmarked.py", UNMARKED_TESTS)
    result = project.run("benchmarks/test_unmarked.py")
    result.assert_outcomes(errors=3)
    assert_no_traceback(result)
    for name, fixture in (("judge", "judge"), ("sample", "sample"), ("output", "output")):
        result.stdout.fnmatch_lines(
            [
                f"*_ ERROR at setup of test_uses_{name} _*",
                f"the {fixture!r} fixture is only available in tests marked "
                "@pytest.mark.llmbench('<scenario>')",
            ]
        )


# -- hostile inputs from the corpora (tests/fuzz/), run the way users run them ----------------

WHOLE_RUN_CORPUS = [
    ("configs", "billion-laughs.yaml"),
    ("configs", "huge-integer.yaml"),
    ("configs", "deep-flow-nesting.yaml"),
    ("configs", "utf16.yaml"),
    ("configs", "nul-byte.yaml"),
    ("prompts", "billion-laughs.yaml"),
    ("prompts", "jinja-deep-parentheses.yaml"),
    ("prompts", "huge-integer-temperature.yaml"),
]


@pytest.mark.parametrize(
    ("corpus", "name"), WHOLE_RUN_CORPUS, ids=[f"{c}/{n}" for c, n in WHOLE_RUN_CORPUS]
)
def test_a_hostile_config_or_prompt_is_one_usage_error_line(
    project: Project, corpus: str, name: str
) -> None:
    corpus_mod.install(project.root, corpus, name)
    result = project.run()
    assert_usage_error(result, corpus_mod.expected(corpus)[name]["error"])
    assert project.records() == []


WHOLE_RUN_DATASETS = [
    "huge-integer.jsonl",
    "deep-nesting.jsonl",
    "nan.jsonl",
    "duplicate-key.jsonl",
    "lone-surrogate.jsonl",
    "utf16.jsonl",
]


@pytest.mark.parametrize("name", WHOLE_RUN_DATASETS)
def test_a_hostile_dataset_is_one_collection_error_naming_file_and_line(
    project: Project, name: str
) -> None:
    corpus_mod.install(project.root, "datasets", name)
    result = project.run()
    assert_collection_error(result, corpus_mod.expected("datasets")[name]["error"])


@pytest.mark.parametrize("name", ["cr-only.jsonl", "escape-codes-in-id.jsonl", "many-keys.jsonl"])
def test_odd_but_valid_datasets_run_every_sample(project: Project, name: str) -> None:
    corpus_mod.install(project.root, "datasets", name)
    result = project.run()
    assert_no_traceback(result)
    ids = corpus_mod.expected("datasets")[name]["ids"]
    result.assert_outcomes(passed=len(ids))
    (record,) = project.records()
    assert [s["id"] for s in record["scenarios"]["digest"]["samples"]] == ids


def test_a_prompt_that_would_render_too_much_fails_its_samples_with_the_reason(
    project: Project,
) -> None:
    corpus_mod.install(project.root, "prompts", "power-bomb.yaml")
    result = project.run()
    message = corpus_mod.expected("prompts")["power-bomb.yaml"]["render_error"].replace(
        "'s-01'", "'s-02'"
    )
    assert result.ret == 1
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(["*_ test_digest[[]s-02[]] _*", exact(message)])
    assert_no_traceback(result)
    (record,) = project.records()
    samples = record["scenarios"]["digest"]["samples"]
    assert [s["status"] for s in samples] == ["error"] * 4
    assert samples[1]["reason"] == f"Failed: {message}"


# -- the command-line values ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "--llmbench-budget=nan",
            "--llmbench-budget=nan: give a positive amount in USD",
        ),
        (
            "--llmbench-budget=-inf",
            "--llmbench-budget=-inf: give a positive amount in USD",
        ),
        (
            "--llmbench-shard=" + "9" * 5000 + "/3",
            "--llmbench-shard=" + "9" * 79 + "…: expected K/N with 1 <= K <= N, e.g. "
            "--llmbench-shard=1/3",
        ),
        (
            "--llmbench-shard=１/２",
            "--llmbench-shard=１/２: expected K/N with 1 <= K <= N, e.g. --llmbench-shard=1/3",
        ),
        ("--llmbench-report=", "--llmbench-report=: empty; give a file path or leave it out"),
        ("--llmbench-json=data", "--llmbench-json=data: is a directory; give a file path in it"),
        (
            "--llmbench-cache=data/digest.jsonl",
            "--llmbench-cache=data/digest.jsonl: exists and is not a directory; give a directory",
        ),
        ("--llmbench-shard=", "--llmbench-shard=: empty; give a value or leave it out"),
    ],
)
def test_a_bad_option_value_is_a_usage_error_naming_the_option_and_the_fix(
    project: Project, option: str, message: str
) -> None:
    result = project.run(option)
    assert_usage_error(result, message)
    assert project.records() == []


def test_a_bad_boolean_in_the_ini_file_names_the_key(project: Project) -> None:
    project.write("pytest.ini", "[pytest]\nllmbench_judge_process = maybe\n")
    result = project.run()
    assert_usage_error(
        result,
        "llmbench_judge_process in the ini file: not true or false; write "
        "llmbench_judge_process = true (or false)",
    )


def test_a_sample_line_over_16_mib_stops_the_run_naming_it_before_any_judge_call(
    project: Project, xdist_args: list[str]
) -> None:
    samples = make_samples([(0.9, 0.9)] * 3)
    samples[1]["input"] = "x" * (16 * 1024 * 1024)
    path = project.dataset(samples)
    size = len(path.read_bytes().split(b"\n")[1])
    result = project.run(*xdist_args)
    message = (
        f"data/digest.jsonl:2: the line is {size:,} bytes, over the 16 MiB limit for one "
        "sample; shorten the sample (see Limits in the README)"
    )
    if xdist_args == ["-n", "2"]:  # xdist reports a collection error with exit status 1
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        result.stdout.fnmatch_lines(
            ["*_ ERROR collecting benchmarks/test_digest.py _*", exact(message), "*1 error*"]
        )
        assert_no_traceback(result)
    else:
        assert_collection_error(result, message)
    assert not list((project.root / ".llmbench" / "runs").glob("*.json"))


def test_a_frozen_dataset_changed_since_stops_the_run_naming_the_samples_before_any_judge_call(
    project: Project, xdist_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project.root / "data" / "digest.jsonl"
    created = manifest.write(path, manifest.build(path))
    samples = make_samples([(0.9, 0.9), (0.85, 0.95), (0.95, 0.85), (0.9, 0.9), (0.5, 0.5)])
    samples[1]["output"] = "an edited summary"
    project.dataset(samples[1:])
    project.config(config_yaml(judge_block=live_judge_yaml()))
    with JudgeServer() as server:
        monkeypatch.setenv("TEST_LLM_URL", server.url)
        result = project.run("--llmbench-judge=live", *xdist_args)
    message = (
        "data/digest.jsonl: changed since it was frozen (data/digest.manifest.json, "
        f"{manifest.read(created)['created']}): 1 sample added (s-05), 1 removed (s-01), "
        "1 edited (s-02); revert the file, or freeze it again with `llmbench dataset freeze "
        "data/digest.jsonl` and bump the dataset version"
    )
    if xdist_args == ["-n", "2"]:  # xdist reports a collection error with exit status 1
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        result.stdout.fnmatch_lines(
            ["*_ ERROR collecting benchmarks/test_digest.py _*", exact(message), "*1 error*"]
        )
        assert_no_traceback(result)
    else:
        assert_collection_error(result, message)
    assert server.requests == []
    assert not list((project.root / ".llmbench" / "runs").glob("*.json"))
