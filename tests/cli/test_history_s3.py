"""`llmbench history s3://...` and `llmbench history DIR --push RECORD`, against a real S3
server on 127.0.0.1 (moto_server)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from support.cli import Run
from support.records import run_on
from support.s3_server import S3Bucket
from support.secret_scan import hits

from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results.schema import RunRecord

Llmbench = Callable[..., Run]


def upload_folder(s3: S3Bucket, folder: Path, prefix: str) -> None:
    for path in sorted(folder.iterdir()):
        s3.put(prefix + path.name, path.read_bytes())


def history_folder(tmp_path: Path, *records: RunRecord) -> Path:
    folder = tmp_path / "history"
    folder.mkdir(parents=True)
    for index, record in enumerate(records):
        record_mod.write(record, folder / f"{index:02d}.json")
    (folder / "notes.json").write_text('{"hello": 1}', encoding="utf-8")
    (folder / "README.md").write_text("not json\n", encoding="utf-8")
    return folder


def test_history_over_an_s3_prefix_is_history_over_the_same_folder(
    s3: S3Bucket, tmp_path: Path, llmbench: Llmbench
) -> None:
    folder = history_folder(
        tmp_path,
        run_on(12, 0.5, branch="feature/x"),
        run_on(10, 0.9, cost=0.0125),
        run_on(11, 0.75, shard=(1, 2)),
        run_on(13, 0.8),
    )
    upload_folder(s3, folder, "runs/")
    s3.put("runs/older/99.json", (folder / "00.json").read_bytes())  # a sub-prefix: not read

    local = llmbench("history", str(folder), "--html", str(tmp_path / "local.html"))
    remote = llmbench("history", s3.url("runs"), "--html", str(tmp_path / "remote.html"))
    assert local[0] == remote[0] == 0
    assert remote[1] == local[1]
    assert local[1].count("\n") == 4  # the header and three runs
    assert remote[2] == (
        local[2]
        .replace(str(folder / "02.json"), s3.url("runs/02.json"))
        .replace(str(folder / "notes.json"), s3.url("runs/notes.json"))
        .replace(str(tmp_path / "local.html"), str(tmp_path / "remote.html"))
    )
    assert remote[2].splitlines()[:2] == [
        f"llmbench: skipped {s3.url('runs/02.json')}: shard 1/2 of a run; join the shards "
        "with `llmbench merge` and keep the merged record instead",
        f"llmbench: skipped {s3.url('runs/notes.json')}: not a pytest-llmbench run record "
        "(no schema 'llmbench-run/1')",
    ]
    local_page = (tmp_path / "local.html").read_text(encoding="utf-8")
    remote_page = (tmp_path / "remote.html").read_text(encoding="utf-8")
    assert remote_page == local_page.replace(
        str(folder / "02.json"), s3.url("runs/02.json")
    ).replace(str(folder / "notes.json"), s3.url("runs/notes.json"))


def test_an_empty_prefix_says_it_holds_no_runs(
    s3: S3Bucket, tmp_path: Path, llmbench: Llmbench
) -> None:
    assert llmbench("history", s3.url("runs/")) == (0, f"no run records in {s3.url('runs/')}\n", "")


def test_a_pushed_record_is_in_the_history_and_a_second_push_is_a_no_op(
    s3: S3Bucket, tmp_path: Path, llmbench: Llmbench
) -> None:
    record = run_on(10, 0.9)
    path = tmp_path / "nightly.json"
    record_mod.write(record, path)
    run_id = record["run"]["id"]
    assert llmbench("history", s3.url("runs/"), "--push", str(path)) == (
        0,
        f"pushed run {run_id} to {s3.url(f'runs/{run_id}.json')}\n",
        "",
    )
    assert s3.get(f"runs/{run_id}.json") == path.read_bytes()
    assert s3.metadata(f"runs/{run_id}.json") == {
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest()
    }
    assert llmbench("history", s3.url("runs/"), "--push", str(path)) == (
        0,
        f"{s3.url('runs/')}: already holds run {run_id} ({run_id}.json); nothing pushed\n",
        "",
    )
    code, out, _ = llmbench("history", s3.url("runs/"))
    assert code == 0 and run_id in out

    other = run_on(10, 0.5)  # the same run id, other scores
    record_mod.write(other, path)
    assert llmbench("history", s3.url("runs/"), "--push", str(path)) == (
        2,
        "",
        f"llmbench: {s3.url(f'runs/{run_id}.json')}: holds another record under this run id; "
        "remove it first if this one should replace it\n",
    )


def test_a_record_is_pushed_into_a_folder_the_same_way(tmp_path: Path, llmbench: Llmbench) -> None:
    record = run_on(10, 0.9)
    path = tmp_path / "nightly.json"
    record_mod.write(record, path)
    run_id = record["run"]["id"]
    folder = tmp_path / "history" / "benchmarks"
    assert llmbench("history", str(folder), "--push", str(path)) == (
        0,
        f"pushed run {run_id} to {folder / f'{run_id}.json'}\n",
        "",
    )
    assert sorted(p.name for p in folder.iterdir()) == [f"{run_id}.json"]
    assert (folder / f"{run_id}.json").read_bytes() == path.read_bytes()


def test_push_and_html_do_not_go_together(tmp_path: Path, llmbench: Llmbench) -> None:
    assert llmbench("history", str(tmp_path), "--push", "r.json", "--html", "p.html") == (
        2,
        "",
        "llmbench: --push adds a record and prints nothing else; write the page with a "
        "second command: llmbench history DIR --html OUT\n",
    )


def test_only_a_whole_run_record_is_pushed(
    s3: S3Bucket, tmp_path: Path, llmbench: Llmbench
) -> None:
    shard = tmp_path / "shard.json"
    record_mod.write(run_on(10, 0.9, shard=(1, 2)), shard)
    assert llmbench("history", s3.url("runs/"), "--push", str(shard)) == (
        2,
        "",
        f"llmbench: {shard}: a shard of a run; join the shards with `llmbench merge` and push "
        "the merged record\n",
    )
    junk = tmp_path / "notes.json"
    junk.write_text('{"hello": 1}', encoding="utf-8")
    assert llmbench("history", s3.url("runs/"), "--push", str(junk)) == (
        2,
        "",
        f"llmbench: {junk}: not a pytest-llmbench run record (no schema 'llmbench-run/1')\n",
    )
    assert s3.keys() == []


def test_history_over_s3_never_prints_the_secret_key(
    s3: S3Bucket, tmp_path: Path, llmbench: Llmbench
) -> None:
    path = tmp_path / "work" / "nightly.json"
    path.parent.mkdir()
    record_mod.write(run_on(10, 0.9), path)
    streams: dict[str, str] = {}
    for number, args in enumerate(
        [
            (s3.url("runs/"), "--push", str(path)),
            (s3.url("runs/"), "--html", str(tmp_path / "work" / "page.html")),
            ("s3://no-such-bucket-here/runs/",),
        ]
    ):
        _, streams[f"{number} stdout"], streams[f"{number} stderr"] = llmbench("history", *args)
    assert hits(tmp_path / "work", streams, [s3.secret]) == []
