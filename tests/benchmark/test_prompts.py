"""The prompt registry: loading and checking prompt files, rendering judge messages."""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmbench.benchmark import limits
from pytest_llmbench.benchmark.dataset import Sample
from pytest_llmbench.benchmark.prompts import (
    JudgePrompt,
    load_prompt,
    messages_sha256,
    render_messages,
)
from pytest_llmbench.errors import PromptError, PromptNotFoundError

GOOD = """\
description: Judge for Russian channel digests
metrics: [coverage, accuracy]
system: |
  You are a strict evaluator.
user: |
  Source posts:
  {{ sample.input }}

  Summary to evaluate:
  {{ output }}

  Tags: {{ sample.tags | join(", ") }}
  Return only a JSON object with {{ metrics | join(", ") }}.
"""


def write(tmp_path: Path, text: str, name: str = "judge", version: str = "v1") -> Path:
    path = tmp_path / "prompts" / name / f"{version}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error(tmp_path: Path, text: str) -> str:
    write(tmp_path, text)
    with pytest.raises(PromptError) as info:
        load_prompt(tmp_path / "prompts", "judge@v1", rootdir=tmp_path)
    return str(info.value)


def sample(**fields: object) -> Sample:
    record = {"id": "tg-1", **fields}
    return Sample(
        id="tg-1", item_id="tg-1", position=0, line=1, input=fields.get("input"), fields=record
    )


def test_load_prompt_reads_the_file_and_hashes_its_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "temperature: 0.2\n")
    prompt = load_prompt(tmp_path / "prompts", "judge@v1", rootdir=tmp_path)
    assert (prompt.name, prompt.version, prompt.ref, prompt.path) == (
        "judge",
        "v1",
        "judge@v1",
        path,
    )
    assert prompt.description == "Judge for Russian channel digests"
    assert prompt.metrics == ("coverage", "accuracy")
    assert prompt.system == "You are a strict evaluator.\n"
    assert prompt.temperature == 0.2
    assert prompt.display == "prompts/judge/v1.yaml"
    assert prompt.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_render_messages_fills_sample_output_and_metrics(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    prompt = load_prompt(tmp_path / "prompts", "judge@v1")
    messages = render_messages(prompt, sample(input="posts", tags=["ru", "news"]), "the summary")
    assert messages == [
        {"role": "system", "content": "You are a strict evaluator.\n"},
        {
            "role": "user",
            "content": "Source posts:\nposts\n\nSummary to evaluate:\nthe summary\n\n"
            "Tags: ru, news\nReturn only a JSON object with coverage, accuracy.\n",
        },
    ]


def test_a_prompt_built_by_hand_renders_too(tmp_path: Path) -> None:
    prompt = JudgePrompt(
        name="j", version="v", path=tmp_path / "j.yaml", description="", metrics=("m",),
        system="S", user="{{ sample['tags'][0] }}/{{ output }}", sha256="0",
    )  # fmt: skip
    assert render_messages(prompt, sample(tags=["a"]), "o")[1]["content"] == "a/o"


def test_a_missing_sample_field_names_the_prompt_file_and_field(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    prompt = load_prompt(tmp_path / "prompts", "judge@v1", rootdir=tmp_path)
    with pytest.raises(PromptError) as info:
        render_messages(prompt, sample(input="posts"), "o")
    assert str(info.value) == (
        "prompts/judge/v1.yaml: user: undefined variable (sample has no attribute 'tags') "
        "rendering sample 'tg-1'; the template sees sample (fields: id, input), output and metrics"
    )


def test_a_missing_variable_names_the_prompt_file_and_variable(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("{{ output }}", "{{ answer }}"))
    prompt = load_prompt(tmp_path / "prompts", "judge@v1", rootdir=tmp_path)
    with pytest.raises(PromptError, match=r"^prompts/judge/v1.yaml: user: undefined variable "
                       r"\('answer' is undefined\)"):  # fmt: skip
        render_messages(prompt, sample(input="p", tags=[]), "o")


def test_a_none_field_is_an_error_not_the_text_none(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    prompt = load_prompt(tmp_path / "prompts", "judge@v1", rootdir=tmp_path)
    with pytest.raises(PromptError) as info:
        render_messages(prompt, sample(tags=[]), "o")  # no input
    assert str(info.value) == (
        "prompts/judge/v1.yaml: user: an expression rendered None for sample 'tg-1' "
        "(a field the sample lacks?); give the sample that field, or guard it: "
        "{% if sample.reference %}...{% endif %}"
    )


def test_templates_compile_once_per_prompt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jinja2

    write(tmp_path, GOOD)
    prompt = load_prompt(tmp_path / "prompts", "judge@v1")
    calls: list[str] = []
    original = jinja2.Environment.from_string

    def counting(self: jinja2.Environment, source: str, *args: object, **kw: object) -> object:
        calls.append(source)
        return original(self, source, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(jinja2.Environment, "from_string", counting)
    for _ in range(3):
        render_messages(prompt, sample(input="p", tags=[]), "o")
    assert calls == []


def test_bad_jinja_syntax_names_the_file_line_and_key(tmp_path: Path) -> None:
    text = GOOD.replace("Tags: {{ sample.tags", "Tags: {{ sample.tags }")
    assert error(tmp_path, text) == (
        "prompts/judge/v1.yaml:12: user: bad Jinja2 syntax (unexpected '}'); fix the template"
    )


def test_an_unknown_key_names_the_file_and_the_closest_key(tmp_path: Path) -> None:
    assert error(tmp_path, GOOD + "tempreature: 0\n") == (
        "prompts/judge/v1.yaml:14: tempreature: unknown key; expected one of description, "
        "metrics, scale, system, temperature, user (did you mean 'temperature'?)"
    )


@pytest.mark.parametrize("key", ["metrics", "system", "user"])
def test_required_keys_are_required(tmp_path: Path, key: str) -> None:
    text = "\n".join(line for line in GOOD.splitlines() if not line.startswith(f"{key}:")).replace(
        "  You are a strict evaluator.\n", ""
    )
    if key == "user":
        text = "description: d\nmetrics: [m]\nsystem: s\n"
    assert error(tmp_path, text) == (
        f"prompts/judge/v1.yaml:1: {key}: missing; add {key}: to the prompt file"
    )


@pytest.mark.parametrize("metrics", ["[]", "coverage", "[1]", "['a b']"])
def test_metrics_must_be_a_nonempty_list_of_names(tmp_path: Path, metrics: str) -> None:
    assert error(tmp_path, f"metrics: {metrics}\nsystem: s\nuser: u\n") == (
        "prompts/judge/v1.yaml:1: metrics: expected a non-empty list of metric names; "
        "e.g. [coverage]"
    )


def test_system_must_be_text(tmp_path: Path) -> None:
    # Worded as the llmbench YAML's errors: both files are checked by the one Reader.
    assert error(tmp_path, "metrics: [m]\nsystem: [s]\nuser: u\n") == (
        "prompts/judge/v1.yaml:2: system: expected text, got a list; quote it"
    )


def test_a_prompt_file_must_be_a_mapping(tmp_path: Path) -> None:
    assert error(tmp_path, "- metrics\n") == (
        "prompts/judge/v1.yaml:1: expected a mapping, got a list; give it keys from "
        "description, metrics, scale, system, temperature, user"
    )


@pytest.mark.parametrize(("value", "shown"), [("warm", "'warm'"), ("true", "true")])
def test_temperature_must_be_a_number(tmp_path: Path, value: str, shown: str) -> None:
    assert error(tmp_path, f"metrics: [m]\nsystem: s\nuser: u\ntemperature: {value}\n") == (
        f"prompts/judge/v1.yaml:4: temperature: expected a number, got {shown}; write a number"
    )


@pytest.mark.parametrize(
    ("scale", "expected"),
    [("{min: 1, max: 5}", (1.0, 5.0)), ("{min: 0, max: 100}", (0.0, 100.0)),
     ("{max: 10, min: 0.5}", (0.5, 10.0)), ("{min: -1, max: 1}", (-1.0, 1.0))],
)  # fmt: skip
def test_a_prompt_may_declare_the_scale_its_judge_answers_on(
    tmp_path: Path, scale: str, expected: tuple[float, float]
) -> None:
    write(tmp_path, GOOD + f"scale: {scale}\n")
    assert load_prompt(tmp_path / "prompts", "judge@v1").scale == expected
    write(tmp_path, GOOD)
    assert load_prompt(tmp_path / "prompts", "judge@v1").scale is None


@pytest.mark.parametrize(
    ("scale", "message"),
    [
        ("{min: 5, max: 1}", "14: scale.max: must be more than min (5), got 1; give the lowest "
         "score as min and the highest as max, e.g. {min: 1, max: 5}"),
        ("{min: 3, max: 3}", "14: scale.max: must be more than min (3), got 3; give the lowest "
         "score as min and the highest as max, e.g. {min: 1, max: 5}"),
        ("{min: 1}", "14: scale.max: missing; add max: (the highest score), e.g. "
         "scale: {min: 1, max: 5}"),
        ("{max: 5}", "14: scale.min: missing; add min: (the lowest score), e.g. "
         "scale: {min: 1, max: 5}"),
        ("{min: one, max: 5}", "14: scale.min: expected a number, got 'one'; write a number"),
        ("{min: 1, max: .inf}", "14: scale.max: expected a finite number, got inf; write a number"),
        ("{min: 1, max: 5, step: 1}", "14: scale.step: unknown key; expected one of max, min"),
        ("1-5", "14: scale: expected a mapping, got '1-5'; give it keys from max, min"),
    ],
    ids=["reversed", "empty", "no-max", "no-min", "word", "infinite", "unknown-key", "text"],
)  # fmt: skip
def test_a_bad_scale_names_the_file_line_and_key(tmp_path: Path, scale: str, message: str) -> None:
    assert error(tmp_path, GOOD + f"scale: {scale}\n") == f"prompts/judge/v1.yaml:{message}"


def test_metric_names_differing_only_in_case_are_one_metric_listed_twice(tmp_path: Path) -> None:
    assert error(tmp_path, "metrics: [coverage, Coverage]\nsystem: s\nuser: u\n") == (
        "prompts/judge/v1.yaml:1: metrics: a metric is listed twice (names match "
        "case-insensitively); list each metric once"
    )


def test_duplicate_keys_are_an_error(tmp_path: Path) -> None:
    assert error(tmp_path, "metrics: [m]\nsystem: s\nuser: u\nuser: v\n") == (
        "prompts/judge/v1.yaml:4: user: duplicate key (first on line 3); remove one of them"
    )


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    assert error(tmp_path, "metrics: [m\nsystem: s\n").startswith(
        "prompts/judge/v1.yaml:2: not valid YAML ("
    )


def test_a_missing_version_lists_the_versions_that_exist(tmp_path: Path) -> None:
    write(tmp_path, GOOD, version="v1")
    write(tmp_path, GOOD, version="v2")
    with pytest.raises(PromptNotFoundError) as info:
        load_prompt(tmp_path / "prompts", "judge@v3")
    assert str(info.value) == (
        f"prompt file not found: {tmp_path}/prompts/judge/v3.yaml; "
        "versions of 'judge' that exist: v1, v2"
    )


def test_a_missing_name_lists_the_prompts_that_exist(tmp_path: Path) -> None:
    write(tmp_path, GOOD, name="judge")
    with pytest.raises(PromptNotFoundError) as info:
        load_prompt(tmp_path / "prompts", "jugde@v1")
    assert str(info.value) == (
        f"prompt file not found: {tmp_path}/prompts/jugde/v1.yaml; no prompt named 'jugde' "
        f"in {tmp_path}/prompts; prompts there: judge"
    )


@pytest.mark.parametrize("ref", ["judge", "judge@", "@v1", "../x@v1", "judge@../v1"])
def test_a_reference_must_be_name_at_version(tmp_path: Path, ref: str) -> None:
    with pytest.raises(PromptError) as info:
        load_prompt(tmp_path, ref)
    assert str(info.value) == (
        f"expected name@version, got {ref!r}; write <name>@<version> for the file "
        "prompts/<name>/<version>.yaml (letters, digits, '_', '.', '-')"
    )


def test_messages_sha256_is_stable_and_content_sensitive() -> None:
    a = [{"role": "system", "content": "s"}, {"role": "user", "content": "ü"}]
    b = [{"content": "s", "role": "system"}, {"content": "ü", "role": "user"}]
    assert messages_sha256(a) == messages_sha256(b)
    assert len(messages_sha256(a)) == 64
    assert messages_sha256(a) != messages_sha256(list(reversed(a)))


# -- a prompt file is not code ----------------------------------------------------------------

ESCAPES = [
    "{{ cycler.__init__.__globals__.os.system('touch ESCAPED') }}",
    "{{ sample.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ lipsum.__globals__['os'].system('touch ESCAPED') }}",
]


@pytest.mark.parametrize("expression", ESCAPES)
def test_a_template_cannot_reach_python_internals(
    tmp_path: Path, expression: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, GOOD.replace("  {{ output }}\n", f"  {{{{ output }}}} {expression}\n"))
    prompt = load_prompt(tmp_path / "prompts", "judge@v1", rootdir=tmp_path)
    with pytest.raises(PromptError) as caught:
        render_messages(prompt, sample(input="x", tags=[]), "y")
    assert str(caught.value).startswith(
        "prompts/judge/v1.yaml: user: the template reaches what a prompt may not (access to "
    )
    assert not (tmp_path / "ESCAPED").exists()


def test_a_template_that_fails_to_evaluate_is_a_prompt_error_not_a_traceback(
    tmp_path: Path,
) -> None:
    write(tmp_path, GOOD.replace("  {{ output }}\n", "  {{ output }} {{ 1 / 0 }}\n"))
    prompt = load_prompt(tmp_path / "prompts", "judge@v1", rootdir=tmp_path)
    with pytest.raises(PromptError, match=r"cannot render for sample 'tg-1' \(ZeroDivisionError"):
        render_messages(prompt, sample(input="x", tags=[]), "y")


def test_dataset_fields_stay_data_never_templates(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    prompt = load_prompt(tmp_path / "prompts", "judge@v1", rootdir=tmp_path)
    messages = render_messages(prompt, sample(input="{{ 7 * 7 }} {% raw %}", tags=["{{x}}"]), "o")
    assert "{{ 7 * 7 }} {% raw %}" in messages[1]["content"]
    assert "Tags: {{x}}" in messages[1]["content"]


# -- limits and hostile content (more in tests/fuzz/prompts) -------------------------------


def test_a_prompt_file_over_256_kib_is_refused_at_the_line_it_crosses(tmp_path: Path) -> None:
    text = GOOD + "".join(f"# padding line {i:06d} " + "x" * 100 + "\n" for i in range(3000))
    limit_line = text.encode()[: 256 * 1024].count(b"\n") + 1
    assert error(tmp_path, text) == (
        f"prompts/judge/v1.yaml:{limit_line}: the file goes past 256 KiB here; keep the file "
        "under 256 KiB (see Limits in the README)"
    )


def test_a_rendered_prompt_over_the_limit_is_an_error_for_that_sample_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "RENDERED_PROMPT_BYTES", 1000)
    write(tmp_path, GOOD)
    prompt = load_prompt(tmp_path / "prompts", "judge@v1", rootdir=tmp_path)
    assert render_messages(prompt, sample(input="short", tags=[]), "o")[1]["content"]
    long_sample = sample(input="é" * 480, tags=[])  # 480 characters, 960 bytes
    monkeypatch.setattr(limits, "RENDERED_PROMPT_BYTES", 10**6)
    messages = render_messages(prompt, long_sample, "o")
    size = sum(len(json.dumps(m["content"], ensure_ascii=False).encode()) - 2 for m in messages)
    monkeypatch.setattr(limits, "RENDERED_PROMPT_BYTES", 1000)
    with pytest.raises(PromptError) as info:
        render_messages(prompt, long_sample, "o")
    assert size > 1000 and str(info.value) == (
        f"prompts/judge/v1.yaml: the rendered prompt for sample 'tg-1' is {size:,} bytes, over "
        "1000 bytes (the limit for what is sent to the judge); shorten the sample or the template"
    )


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("10 ** 100000000", "the template reaches what a prompt may not (** would make"),
        ('"x" * 10 ** 12', "the template reaches what a prompt may not (* would make"),
        ("(2 ** 999999) * (2 ** 999999)", "the template reaches what a prompt may not (*"),
        ("range(100000) | join * 1000", "the template reaches what a prompt may not (*"),
    ],
)
def test_arithmetic_past_the_size_limit_is_refused_before_it_runs(
    tmp_path: Path, expression: str, message: str
) -> None:
    write(tmp_path, GOOD.replace("{{ output }}", "{{ " + expression + " }}"))
    prompt = load_prompt(tmp_path / "prompts", "judge@v1", rootdir=tmp_path)
    with pytest.raises(PromptError) as info:
        render_messages(prompt, sample(input="p", tags=[]), "o")
    assert str(info.value).startswith(f"prompts/judge/v1.yaml: user: {message}")


def test_the_rendered_size_counts_json_escapes_as_sent_to_the_judge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "RENDERED_PROMPT_BYTES", 6000)
    write(tmp_path, "metrics: [coverage]\nsystem: s\nuser: '{{ sample.input }}'\n")
    prompt = load_prompt(tmp_path / "prompts", "judge@v1", rootdir=tmp_path)
    assert render_messages(prompt, sample(input="a" * 5000), "o")[1]["content"] == "a" * 5000
    with pytest.raises(PromptError) as info:  # 1,500 characters, 9,000 bytes as sent
        render_messages(prompt, sample(input="\x01" * 1500), "o")
    assert "is 9,001 bytes, over 5.9 KiB" in str(info.value)


def test_small_arithmetic_still_renders(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("{{ output }}", '{{ 2 ** 10 }} {{ "ab" * 3 }} {{ 6 * 7 }}'))
    prompt = load_prompt(tmp_path / "prompts", "judge@v1", rootdir=tmp_path)
    assert (
        "1024 ababab 42" in render_messages(prompt, sample(input="p", tags=[]), "o")[1]["content"]
    )


def test_a_template_nested_too_deeply_to_compile_names_the_file_and_key(tmp_path: Path) -> None:
    assert error(
        tmp_path, GOOD.replace("{{ output }}", "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}")
    ) == (
        "prompts/judge/v1.yaml:6: user: the template nests expressions too deeply to compile; "
        "flatten it"
    )


PROMPT_LOCATED = re.compile(r"prompts/judge/v1\.yaml(:[1-9][0-9]*)?: [^\n]+")


@given(st.binary(max_size=300))
def test_any_bytes_as_a_prompt_file_are_a_prompt_or_one_error_naming_it(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "")
        path.write_bytes(data)
        try:
            load_prompt(Path(tmp) / "prompts", "judge@v1", rootdir=Path(tmp))
        except PromptError as exc:
            assert PROMPT_LOCATED.fullmatch(str(exc)), str(exc)


JINJA_BITS = st.sampled_from(
    ["{{", "}}", "{%", "%}", "{#", "#}", "sample.input", "output", "metrics", "|", "join",
     "(", ")", "*", "**", "9", " ", "for x in", "endfor", "if", "endif", "'", '"', "~",
     "range(99)", "__class__", "lipsum", "cycler", ".", "[", "]", "\n", "raw", "endraw"]
)  # fmt: skip


@settings(max_examples=300)
@given(st.lists(JINJA_BITS, max_size=30).map("".join))
def test_any_template_text_renders_or_is_one_error_naming_the_prompt(template: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp), "metrics: [coverage]\nsystem: s\nuser: " + json.dumps(template) + "\n")
        try:
            prompt = load_prompt(Path(tmp) / "prompts", "judge@v1", rootdir=Path(tmp))
            messages = render_messages(prompt, sample(input="{{ 7 * 7 }}", tags=[]), "o")
        except PromptError as exc:
            assert PROMPT_LOCATED.fullmatch(str(exc)), str(exc)
        else:
            assert [m["role"] for m in messages] == ["system", "user"]
