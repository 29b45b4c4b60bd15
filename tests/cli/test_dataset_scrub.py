"""`llmbench dataset scrub` and `llmbench dataset check-pii`, run as the real command: the
scrubbed file reads back with the plugin's reader, its manifest holds counts and never a
value, check-pii names file, line, field and kind, and bad input is one line, exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_llmbench.benchmark.dataset import load_dataset
from pytest_llmbench.datasets import manifest

pytest.importorskip("natasha", reason="the pii extra (natasha) is not installed")

SAMPLES = [
    {
        "id": "ivan@mail.ru",  # the id is never scrubbed
        "input": "Звоните Ивану Петрову: +7 (912) 345-67-89, почта Ivan@Mail.ru.",
        "output": "Иван Петров ждёт звонка по номеру 8 912 345 67 89.",
        "ground_truth": {"coverage": 0.9},
        "tags": ["реклама", "карта 4111 1111 1111 1111"],
        "meta": {"author": "@ivan_petrov", "views": 12},
        "channel": "@zarechinsk_today",
    },
    {
        "id": "s-2",
        "input": "Сегодня в Заречинске +4, рынок открыт с 9:00. Заказ № 4567891234.",
        "output": "Рынок открыт с 9:00.",
        "ground_truth": {"coverage": 0.8},
        "tags": [],
        "meta": {"author": "Мария Иванова", "views": 3},
        "channel": "@zarechinsk_today",
    },
]
SCRUBBED = [
    {
        "id": "ivan@mail.ru",
        "input": "Звоните <PERSON_1>: <PHONE_1>, почта <EMAIL_1>.",
        "output": "<PERSON_1> ждёт звонка по номеру <PHONE_1>.",
        "ground_truth": {"coverage": 0.9},
        "tags": ["реклама", "карта <CARD_1>"],
        "meta": {"author": "<HANDLE_1>", "views": 12},
        "channel": "<HANDLE_2>",
    },
    {
        "id": "s-2",
        "input": "Сегодня в Заречинске +4, рынок открыт с 9:00. Заказ № 4567891234.",
        "output": "Рынок открыт с 9:00.",
        "ground_truth": {"coverage": 0.8},
        "tags": [],
        "meta": {"author": "<PERSON_2>", "views": 3},
        "channel": "<HANDLE_2>",
    },
]
VALUES = ("Ивану", "Петров", "912", "Ivan@", "ivan@mail.ru", "4111", "ivan_petrov", "Мария")


def write(path: Path, samples: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples), "utf-8")
    return path


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write(tmp_path / "data" / "posts.jsonl", SAMPLES)


def test_scrub_replaces_every_string_field_but_the_id_with_consistent_placeholders(
    llmbench: Any, dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "posts.jsonl"
    out.parent.mkdir()
    code, stdout, stderr = llmbench("dataset", "scrub", str(dataset), "-o", str(out))
    assert (code, stderr) == (0, "")
    assert stdout == (
        f"{out}: 2 samples, 10 placeholders (EMAIL 1, PHONE 2, HANDLE 3, CARD 1, PERSON 3)\n"
        f"manifest: {out.parent / 'posts.manifest.json'}\n"
    )
    assert read(out) == SCRUBBED
    assert [s.id for s in load_dataset(out, str(out)).samples] == ["ivan@mail.ru", "s-2"]


def test_scrubbing_a_scrubbed_dataset_changes_nothing(
    llmbench: Any, dataset: Path, tmp_path: Path
) -> None:
    once, twice = tmp_path / "once.jsonl", tmp_path / "twice.jsonl"
    assert llmbench("dataset", "scrub", str(dataset), "-o", str(once))[0] == 0
    code, stdout, _ = llmbench("dataset", "scrub", str(once), "-o", str(twice))
    assert (code, stdout.splitlines()[0]) == (
        0,
        f"{twice}: 2 samples, 0 placeholders (nothing found)",
    )
    assert twice.read_bytes() == once.read_bytes()


def test_scrub_writes_the_manifest_with_counts_and_no_value(
    llmbench: Any, dataset: Path, tmp_path: Path
) -> None:
    from importlib.metadata import version

    out = tmp_path / "clean.jsonl"
    assert llmbench("dataset", "scrub", str(dataset), "-o", str(out))[0] == 0
    path = manifest.manifest_path(out)
    written = manifest.read(path)
    assert written["scrub"] == {
        "status": "scrubbed",
        "counts": {"EMAIL": 1, "PHONE": 2, "HANDLE": 3, "CARD": 1, "PERSON": 3},
        "scrubber": f"pytest-llmbench {version('pytest-llmbench')} / natasha {version('natasha')}",
    }
    assert (written["source"], written["samples"]) == (str(dataset), 2)
    text = path.read_text("utf-8")
    assert not [v for v in VALUES if v in text and v != "ivan@mail.ru"]  # the id is kept


def test_scrub_skips_or_keeps_to_the_fields_named(
    llmbench: Any, dataset: Path, tmp_path: Path
) -> None:
    skipped, only = tmp_path / "skipped.jsonl", tmp_path / "only.jsonl"
    args = ("--skip", "channel", "--skip", "meta")
    assert llmbench("dataset", "scrub", str(dataset), "-o", str(skipped), *args)[0] == 0
    assert llmbench("dataset", "scrub", str(dataset), "-o", str(only), "--only", "output")[0] == 0
    first = read(skipped)[0]
    assert (first["channel"], first["meta"], first["input"]) == (
        "@zarechinsk_today",
        {"author": "@ivan_petrov", "views": 12},
        SCRUBBED[0]["input"],
    )
    kept = read(only)
    assert kept[0]["output"] == "<PERSON_1> ждёт звонка по номеру <PHONE_1>."
    assert [{k: v for k, v in s.items() if k != "output"} for s in kept] == [
        {k: v for k, v in s.items() if k != "output"} for s in SAMPLES
    ]


def test_check_pii_names_file_line_field_and_kind_and_exits_1(llmbench: Any, dataset: Path) -> None:
    code, stdout, stderr = llmbench("dataset", "check-pii", str(dataset), "--only", "input")
    assert (code, stderr) == (1, "")
    assert stdout == (
        f"{dataset}:1: <PERSON> in field input: Звоните <PERSON>: <PHONE>, почта <EMAIL>.\n"
        f"{dataset}:1: <PHONE> in field input: Звоните <PERSON>: <PHONE>, почта <EMAIL>.\n"
        f"{dataset}:1: <EMAIL> in field input: …ните <PERSON>: <PHONE>, почта <EMAIL>.\n"
        f"{dataset}: 3 findings (EMAIL 1, PERSON 1, PHONE 1) in 2 samples; "
        "scrub with `llmbench dataset scrub IN -o OUT`\n"
    )


def test_check_pii_reads_nested_fields_and_masks_long_excerpts(
    llmbench: Any, tmp_path: Path
) -> None:
    long = (
        "Очень длинный пост о городских новостях. " * 3
        + "Пишите: user@example.org. "
        + "Конец. " * 9
    )
    path = write(tmp_path / "d.jsonl", [{"id": "a", "input": "ok", "meta": {"notes": ["x", long]}}])
    code, stdout, _ = llmbench("dataset", "check-pii", str(path))
    assert code == 1
    assert stdout.splitlines()[0] == (
        f"{path}:1: <EMAIL> in field meta.notes[1]: …о городских новостях. Пишите: <EMAIL>. Конец. Конец. Конец. Конец. …"
    )
    assert "user@" not in stdout


def test_check_pii_passes_a_scrubbed_dataset_and_a_directory_of_them(
    llmbench: Any, dataset: Path, tmp_path: Path
) -> None:
    clean = tmp_path / "clean" / "posts.jsonl"
    clean.parent.mkdir()
    assert llmbench("dataset", "scrub", str(dataset), "-o", str(clean))[0] == 0
    assert llmbench("dataset", "check-pii", str(clean)) == (
        0,
        f"{clean}: no personal data found in 2 samples\n",
        "",
    )
    assert llmbench("dataset", "check-pii", str(clean.parent))[0] == 0
    assert llmbench("dataset", "check-pii", str(dataset.parent))[0] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("scrub", "{missing}", "-o", "{out}"),
            "{missing}: cannot read the dataset (No such file or directory): {missing}; check the path",
        ),
        (("scrub", "{bad}", "-o", "{out}"), "{bad}:2: not valid JSON"),
        (
            ("scrub", "{dataset}", "-o", "{dataset}"),
            "{dataset}: the output is the input; give -o another path",
        ),
        (("check-pii", "{missing}"), "{missing}: no such file or directory; check the path"),
        (("check-pii", "{bad}"), "{bad}:2: not valid JSON"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    llmbench: Any, dataset: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "input": "x"}\n{"id": \n', "utf-8")
    names = {
        "missing": tmp_path / "nope.jsonl",
        "out": tmp_path / "o.jsonl",
        "bad": bad,
        "dataset": dataset,
    }
    code, stdout, stderr = llmbench("dataset", *(a.format(**names) for a in args))
    assert (code, stdout) == (2, "")
    assert stderr.startswith("llmbench: " + message.format(**names))
    assert stderr.count("\n") == 1


def test_without_the_pii_extra_names_are_refused_and_structured_kinds_still_work(
    llmbench: Any, dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "natasha", None)  # `import natasha` fails as if absent
    out = tmp_path / "o.jsonl"
    line = (
        "llmbench: person names need the pii extra: pip install 'pytest-llmbench[pii]' "
        "(or give --no-names for the structured kinds only)\n"
    )
    assert llmbench("dataset", "scrub", str(dataset), "-o", str(out)) == (2, "", line)
    assert llmbench("dataset", "check-pii", str(dataset)) == (2, "", line)
    assert llmbench("dataset", "scrub", str(dataset), "-o", str(out), "--no-names")[0] == 0
    assert read(out)[1]["meta"]["author"] == "Мария Иванова"  # no names without natasha
    assert manifest.read(manifest.manifest_path(out))["scrub"]["scrubber"].endswith(
        " / no person names"
    )


def test_scrub_makes_the_new_versions_folder_as_export_does(
    llmbench: Any, dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "posts_v2" / "2026-12-01_samples.jsonl"
    assert llmbench("dataset", "scrub", str(dataset), "-o", str(out), "--no-names")[0] == 0
    assert [s["id"] for s in read(out)] == ["ivan@mail.ru", "s-2"]
    assert manifest.read(manifest.manifest_path(out))["samples"] == 2
