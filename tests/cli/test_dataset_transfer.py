"""`llmbench dataset import` through the real command: CSV and a callable, the field mapping
(--map, or a scenario's fields:), de-duplication, seeded sampling, and a file the plugin
would refuse never written."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cli import Run
from support.project import PROMPT, config_yaml

from pytest_llmbench.benchmark.dataset import load_dataset

Llmbench = Callable[..., Run]

CSV = (
    "msg_id,text,channel,latency_seconds\n"
    "m-1,Первый пост,news,120\n"
    'm-2,"Пост, с запятой",sport,130.5\n'
    "m-1,a later copy of m-1,news,1\n"
    "m-3,Третий,news,\n"
)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def lines(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def test_import_from_csv_maps_fields_and_keeps_the_first_of_each_id(
    here: Path, llmbench: Llmbench
) -> None:
    Path("in.csv").write_text(CSV, encoding="utf-8")
    assert llmbench(
        "dataset",
        "import",
        "in.csv",
        "-o",
        "out.jsonl",
        "--map",
        "id=msg_id",
        "--map",
        "input=text",
    ) == (
        0,
        "out.jsonl: 3 samples from in.csv (1 row of an id already seen dropped (the first kept))\n",
        "",
    )
    assert lines("out.jsonl") == [
        {"id": "m-1", "input": "Первый пост", "channel": "news", "latency_seconds": 120},
        {"id": "m-2", "input": "Пост, с запятой", "channel": "sport", "latency_seconds": 130.5},
        {"id": "m-3", "input": "Третий", "channel": "news"},
    ]
    assert [s.id for s in load_dataset(Path("out.jsonl"), "out.jsonl").samples] == [
        "m-1",
        "m-2",
        "m-3",
    ]


def test_import_with_a_scenarios_fields_mapping_keeps_the_sources_names(
    here: Path, llmbench: Llmbench
) -> None:
    Path("in.csv").write_text(CSV, encoding="utf-8")
    Path("benchmarks").mkdir()
    Path("benchmarks/llmbench.yaml").write_text(
        config_yaml().replace(
            "    judge: default\n", "    judge: default\n    fields: {id: msg_id, input: text}\n"
        ),
        encoding="utf-8",
    )
    Path("prompts/digest_judge").mkdir(parents=True)
    Path("prompts/digest_judge/v1.yaml").write_text(PROMPT, encoding="utf-8")
    Path("data").mkdir()
    Path("data/digest.jsonl").write_text('{"msg_id": "old"}\n', encoding="utf-8")  # the config's
    code, _, err = llmbench(
        "dataset", "import", "in.csv", "-o", "out.jsonl", "--config", "benchmarks/llmbench.yaml",
        "--scenario", "digest",
    )  # fmt: skip
    assert (code, err) == (0, ""), err
    assert [line["msg_id"] for line in lines("out.jsonl")] == ["m-1", "m-2", "m-3"]
    data = load_dataset(Path("out.jsonl"), "out.jsonl", {"id": "msg_id", "input": "text"})
    assert [s.input for s in data.samples] == ["Первый пост", "Пост, с запятой", "Третий"]


def test_a_seeded_stratified_sample_is_the_same_every_time(here: Path, llmbench: Llmbench) -> None:
    Path("in.jsonl").write_text(
        "".join(
            json.dumps({"id": f"s-{i:02d}", "channel": "ab"[i % 4 == 0]}) + "\n" for i in range(20)
        ),
        encoding="utf-8",
    )
    args = (
        "dataset",
        "import",
        "in.jsonl",
        "--sample",
        "5",
        "--seed",
        "7",
        "--stratify",
        "channel",
    )
    code, out, _ = llmbench(*args, "-o", "one.jsonl")
    assert code == 0
    assert (
        out
        == "one.jsonl: 5 samples from in.jsonl (sampled 5 of 20, seed 7, stratified by channel)\n"
    )
    assert llmbench(*args, "-o", "two.jsonl")[0] == 0
    assert Path("one.jsonl").read_bytes() == Path("two.jsonl").read_bytes()
    channels = [line["channel"] for line in lines("one.jsonl")]
    assert (channels.count("a"), channels.count("b")) == (4, 1)  # 15 and 5 of 20


@pytest.fixture
def app(here: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    Path("prodrows.py").write_text(
        "def rows():\n"
        "    for n in range(3):\n"
        "        yield {'sample_id': n, 'text': f'post {n}', 'ground_truth': {'coverage': 0.5}}\n"
        "    yield {'sample_id': 0, 'text': 'again'}\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys, "path", list(sys.path))  # the command adds the current directory
    yield
    sys.modules.pop("prodrows", None)


def test_import_from_a_callable(app: None, llmbench: Llmbench) -> None:
    assert llmbench(
        "dataset", "import", "prodrows:rows", "-o", "out.jsonl", "--map", "id=sample_id"
    ) == (
        0,
        "out.jsonl: 3 samples from prodrows:rows (1 row of an id already seen dropped (the "
        "first kept))\n",
        "",
    )
    assert lines("out.jsonl")[0] == {"id": 0, "text": "post 0", "ground_truth": {"coverage": 0.5}}


def test_a_file_the_plugin_would_refuse_is_not_written(here: Path, llmbench: Llmbench) -> None:
    Path("in.jsonl").write_text('{"id": "a", "line": 3}\n', encoding="utf-8")
    assert llmbench("dataset", "import", "in.jsonl", "-o", "out.jsonl") == (
        2,
        "",
        "llmbench: out.jsonl:1: field 'line' has the name of the sample's own line number, so "
        "sample.line could not read it; rename the field in the dataset\n",
    )
    assert sorted(p.name for p in here.iterdir()) == ["in.jsonl"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--map", "ident=msg_id"), "--map ident=msg_id: 'ident' is not one of id, input, output, reference, ground_truth"),
        (("--map", "id"), "--map id: expected NAME=FIELD, e.g. --map id=msg_id"),
        (("--stratify", "channel"), "--stratify: give --sample N too"),
        (("--config", "x.yaml"), "--config: give --scenario NAME too (whose fields: mapping to use)"),
        (
            ("--map", "id=msg_id", "--scenario", "digest"),
            "--map and --config/--scenario: give one field mapping, not both",
        ),
    ],
)  # fmt: skip
def test_a_bad_option_is_one_line_naming_it(
    here: Path, llmbench: Llmbench, args: tuple[str, ...], message: str
) -> None:
    Path("in.csv").write_text(CSV, encoding="utf-8")
    assert llmbench("dataset", "import", "in.csv", "-o", "out.jsonl", *args) == (
        2,
        "",
        f"llmbench: {message}\n",
    )


def test_a_source_that_is_neither_a_file_nor_a_callable_says_so(
    here: Path, llmbench: Llmbench
) -> None:
    assert llmbench("dataset", "import", "missing.csv", "-o", "out.jsonl") == (
        2,
        "",
        "llmbench: missing.csv: no such file, nor a module:function; check SRC\n",
    )
