"""`llmbench dataset push` and `pull` against a real S3 server on 127.0.0.1 (moto_server)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.cli import Run
from support.loopback import HOST, closed_port
from support.project import make_samples
from support.s3_server import S3Bucket, S3Server, isolate_aws
from support.secret_scan import hits

from pytest_llmbench.datasets import manifest as manifest_mod
from pytest_llmbench.datasets import sync
from pytest_llmbench.datasets.object_store import StoreError
from pytest_llmbench.datasets.s3_url import S3Location

Llmbench = Callable[..., Run]
NAME = "digest_v1.jsonl"
MANIFEST = "digest_v1.manifest.json"


def frozen(folder: Path, scores: list[tuple[float, float]] | None = None) -> Path:
    """A dataset with its manifest, as `llmbench dataset freeze` leaves it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / NAME
    rows = make_samples(scores or [(0.9, 0.9), (0.8, 0.7), (0.95, 0.85)])
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    manifest_mod.write(path, manifest_mod.build(path))
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_push_then_pull_gives_the_same_bytes_and_a_verified_manifest(
    s3: S3Bucket, tmp_path: Path, llmbench: Llmbench
) -> None:
    dataset = frozen(tmp_path / "here")
    digest = sha(dataset.read_bytes())
    code, out, err = llmbench("dataset", "push", str(dataset), s3.url("datasets/digest"))
    assert (code, err) == (0, "")
    assert out == (
        f"pushed {NAME} (3 samples, sha256 {digest[:12]}) and its manifest to "
        f"{s3.url('datasets/digest/')}\n"
    )
    assert s3.keys() == [f"datasets/digest/{NAME}", f"datasets/digest/{MANIFEST}"]
    assert s3.get(f"datasets/digest/{NAME}") == dataset.read_bytes()
    assert s3.metadata(f"datasets/digest/{NAME}") == {"sha256": digest}
    assert s3.metadata(f"datasets/digest/{MANIFEST}") == {"sha256": digest}

    code, out, err = llmbench(
        "dataset", "pull", s3.url(f"datasets/digest/{NAME}"), str(tmp_path / "there")
    )
    assert (code, err) == (0, "")
    assert out == (
        f"pulled {NAME} (3 samples, sha256 {digest[:12]}, verified) and its manifest into "
        f"{tmp_path / 'there'}\n"
    )
    assert (tmp_path / "there" / NAME).read_bytes() == dataset.read_bytes()
    assert (tmp_path / "there" / MANIFEST).read_bytes() == (
        tmp_path / "here" / MANIFEST
    ).read_bytes()
    assert manifest_mod.read(tmp_path / "there" / MANIFEST)["sha256"] == digest
    assert sorted(p.name for p in (tmp_path / "there").iterdir()) == [NAME, MANIFEST]


def test_pushing_or_pulling_the_same_version_again_changes_nothing_and_says_so(
    s3: S3Bucket, tmp_path: Path, llmbench: Llmbench
) -> None:
    dataset = frozen(tmp_path / "here")
    digest = sha(dataset.read_bytes())[:12]
    assert llmbench("dataset", "push", str(dataset), s3.url("d/"))[0] == 0
    assert llmbench("dataset", "push", str(dataset), s3.url("d/")) == (
        0,
        f"{s3.url('d/' + NAME)}: already holds this version (sha256 {digest}); nothing pushed\n",
        "",
    )
    assert llmbench("dataset", "pull", s3.url("d/" + NAME), str(tmp_path / "here")) == (
        0,
        f"{dataset}: already holds this version (sha256 {digest}); nothing pulled\n",
        "",
    )


def test_a_different_version_at_the_destination_is_refused_without_force(
    s3: S3Bucket, tmp_path: Path, llmbench: Llmbench
) -> None:
    first = frozen(tmp_path / "one")
    second = frozen(tmp_path / "two", [(0.1, 0.2)])
    assert llmbench("dataset", "push", str(first), s3.url("d/"))[0] == 0
    before = s3.get("d/" + NAME)
    code, out, err = llmbench("dataset", "push", str(second), s3.url("d/"))
    assert (code, out) == (2, "")
    assert err == (
        f"llmbench: {s3.url('d/' + MANIFEST)}: holds another version of {NAME} (sha256 "
        f"{sha(before)[:12]}, here {sha(second.read_bytes())[:12]}); push the new version "
        "under a new name (NAME_v2) or replace it with --force\n"
    )
    assert s3.get("d/" + NAME) == before
    assert llmbench("dataset", "push", str(second), s3.url("d/"), "--force")[0] == 0
    assert s3.get("d/" + NAME) == second.read_bytes()


def test_pull_refuses_to_replace_a_different_local_version_without_force(
    s3: S3Bucket, tmp_path: Path, llmbench: Llmbench
) -> None:
    remote = frozen(tmp_path / "one")
    local = frozen(tmp_path / "two", [(0.1, 0.2)])
    local_bytes = local.read_bytes()
    assert llmbench("dataset", "push", str(remote), s3.url())[0] == 0
    code, out, err = llmbench("dataset", "pull", s3.url(NAME), str(tmp_path / "two"))
    assert (code, out) == (2, "")
    assert err == (
        f"llmbench: {local}: holds another version (sha256 {sha(local_bytes)[:12]}, "
        f"{s3.url(NAME)} has {sha(remote.read_bytes())[:12]}); move it aside, or replace it "
        "with --force\n"
    )
    assert local.read_bytes() == local_bytes
    assert llmbench("dataset", "pull", s3.url(NAME), str(tmp_path / "two"), "--force")[0] == 0
    assert local.read_bytes() == remote.read_bytes()


def test_a_tampered_data_object_is_a_checksum_error_that_leaves_nothing_behind(
    s3: S3Bucket, tmp_path: Path, llmbench: Llmbench
) -> None:
    dataset = frozen(tmp_path / "here")
    assert llmbench("dataset", "push", str(dataset), s3.url("d/"))[0] == 0
    tampered = dataset.read_bytes().replace(b"0.95", b"0.05")
    s3.put("d/" + NAME, tampered, {"sha256": sha(dataset.read_bytes())})
    target = tmp_path / "there"
    code, out, err = llmbench("dataset", "pull", s3.url("d/" + NAME), str(target))
    assert (code, out) == (2, "")
    assert err == (
        f"llmbench: {s3.url('d/' + NAME)}: the data's sha256 ({sha(tampered)[:12]}) is not "
        f"its manifest's ({sha(dataset.read_bytes())[:12]}): the remote copy is damaged or "
        "was changed after the push; push it again. Nothing was written\n"
    )
    assert list(target.iterdir()) == []


@pytest.mark.parametrize(
    ("manifest", "what"),
    [
        (b"{not json", "the manifest is not valid JSON"),
        (b'{"manifest_version": 1}', "manifest key 'samples' is not a positive integer"),
        (b"[]", "manifest key '(top level)' is not an object"),
    ],
)
def test_a_corrupt_remote_manifest_is_one_line_naming_it(
    s3: S3Bucket, tmp_path: Path, llmbench: Llmbench, manifest: bytes, what: str
) -> None:
    dataset = frozen(tmp_path / "here")
    assert llmbench("dataset", "push", str(dataset), s3.url("d/"))[0] == 0
    s3.put("d/" + MANIFEST, manifest)
    code, out, err = llmbench("dataset", "pull", s3.url("d/" + NAME), str(tmp_path / "there"))
    assert (code, out) == (2, "")
    assert err == (
        f"llmbench: {s3.url('d/' + MANIFEST)}: {what}; push the dataset again (with --force)\n"
    )
    assert not (tmp_path / "there").exists()
    code, out, err = llmbench("dataset", "push", str(dataset), s3.url("d/"))
    assert err == (
        f"llmbench: {s3.url('d/' + MANIFEST)}: {what}; replace it with llmbench dataset push "
        "--force\n"
    )
    assert llmbench("dataset", "push", str(dataset), s3.url("d/"), "--force")[0] == 0
    assert s3.get("d/" + MANIFEST) == (tmp_path / "here" / MANIFEST).read_bytes()


def test_push_needs_the_manifest_and_data_that_matches_it(
    s3: S3Bucket, tmp_path: Path, llmbench: Llmbench
) -> None:
    dataset = frozen(tmp_path / "here")
    with dataset.open("a", encoding="utf-8") as f:
        f.write('{"id": "late", "output": "x"}\n')
    code, _, err = llmbench("dataset", "push", str(dataset), s3.url("d/"))
    assert code == 2
    assert err.startswith(f"llmbench: {dataset}: the data (sha256 ")
    assert err.endswith(
        f"; restore the file or freeze it again: llmbench dataset freeze {dataset}\n"
    )
    manifest_mod.manifest_path(dataset).unlink()
    assert llmbench("dataset", "push", str(dataset), s3.url("d/")) == (
        2,
        "",
        f"llmbench: {dataset}: no manifest beside it ({MANIFEST}); freeze it first: "
        f"llmbench dataset freeze {dataset}\n",
    )
    assert s3.keys() == []


def test_pulling_a_dataset_that_was_never_pushed_names_the_missing_manifest(
    s3: S3Bucket, tmp_path: Path, llmbench: Llmbench
) -> None:
    code, out, err = llmbench("dataset", "pull", s3.url("d/" + NAME), str(tmp_path))
    assert (code, out) == (2, "")
    assert err == (
        f"llmbench: {s3.url('d/' + MANIFEST)}: no such object, so {NAME} is not a pushed "
        f"version there; check the URL, or push it: llmbench dataset push PATH {s3.url('d/')}\n"
    )


def test_a_remote_data_object_missing_under_its_manifest_is_one_line(
    s3: S3Bucket, tmp_path: Path, llmbench: Llmbench
) -> None:
    dataset = frozen(tmp_path / "here")
    assert llmbench("dataset", "push", str(dataset), s3.url("d/"))[0] == 0
    s3.admin.delete_object(Bucket=s3.bucket, Key="d/" + NAME)
    code, out, err = llmbench("dataset", "pull", s3.url("d/" + NAME), str(tmp_path / "there"))
    assert (code, out) == (2, "")
    assert (
        err
        == f"llmbench: {s3.url('d/' + NAME)}: no such object at http://{HOST}:{s3.endpoint.rsplit(':', 1)[1]}\n"
    )
    assert list((tmp_path / "there").iterdir()) == []


def test_a_missing_bucket_is_one_line_naming_it(
    s3: S3Bucket, tmp_path: Path, llmbench: Llmbench
) -> None:
    dataset = frozen(tmp_path / "here")
    assert llmbench("dataset", "push", str(dataset), "s3://no-such-bucket-here/d/") == (
        2,
        "",
        f"llmbench: s3://no-such-bucket-here: no such bucket at {s3.endpoint}; create it or "
        "check the name (and --endpoint-url / AWS_ENDPOINT_URL)\n",
    )


def test_no_credentials_is_one_line_saying_what_to_set(
    s3: S3Bucket, tmp_path: Path, llmbench: Llmbench, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = frozen(tmp_path / "here")
    isolate_aws(monkeypatch, tmp_path)
    assert llmbench(
        "dataset", "push", str(dataset), s3.url("d/"), "--endpoint-url", s3.endpoint
    ) == (
        2,
        "",
        "llmbench: no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
        "or AWS_PROFILE (see the AWS CLI's configuration docs)\n",
    )


def test_an_endpoint_that_is_down_is_one_line_after_bounded_attempts(
    s3: S3Bucket, tmp_path: Path, llmbench: Llmbench
) -> None:
    dataset = frozen(tmp_path / "here")
    down = f"http://{HOST}:{closed_port()}"
    assert llmbench("dataset", "push", str(dataset), s3.url("d/"), "--endpoint-url", down) == (
        2,
        "",
        f"llmbench: cannot reach the S3 endpoint {down} (after 3 attempts); check that it is "
        "up and --endpoint-url / AWS_ENDPOINT_URL\n",
    )


def test_access_denied_is_one_line_naming_the_credentials_to_check(
    s3: S3Bucket, s3_checking_server: S3Server, tmp_path: Path, llmbench: Llmbench
) -> None:
    dataset = frozen(tmp_path / "here")
    endpoint = s3_checking_server.url
    assert llmbench("dataset", "push", str(dataset), s3.url("d/"), "--endpoint-url", endpoint) == (
        2,
        "",
        f"llmbench: {s3.url('d/')}: access denied (403) at {endpoint}; check the credentials "
        "(AWS_ACCESS_KEY_ID, AWS_PROFILE) and the bucket's policy\n",
    )
    code, out, err = llmbench(
        "dataset", "pull", s3.url("d/" + NAME), str(tmp_path / "x"), "--endpoint-url", endpoint
    )
    assert (code, out) == (2, "")
    assert err.startswith(f"llmbench: {s3.url('d/' + NAME)}: access denied (403) at {endpoint}")
    assert hits(tmp_path, {"stderr": err}, [s3.secret]) == []


def test_no_output_and_no_file_holds_the_secret_key_or_a_piece_of_it(
    s3: S3Bucket, tmp_path: Path, llmbench: Llmbench, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = frozen(tmp_path / "work" / "here")
    streams: dict[str, str] = {}
    runs = [
        ("push", str(dataset), s3.url("d/")),
        ("push", str(dataset), s3.url("d/")),
        ("pull", s3.url("d/" + NAME), str(tmp_path / "work" / "there")),
        ("push", str(dataset), "s3://no-such-bucket-here/d/"),
        ("pull", s3.url("d/none.jsonl"), str(tmp_path / "work" / "there")),
        ("push", str(dataset), s3.url("d/"), "--endpoint-url", f"http://{HOST}:{closed_port()}"),
    ]
    for number, args in enumerate(runs):
        _, out, err = llmbench("dataset", *args)
        streams[f"run {number} stdout"], streams[f"run {number} stderr"] = out, err
    # A wrong secret: the server refuses the signature, and says so in its reply.
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret[::-1])
    _code, out, err = llmbench("dataset", "push", str(dataset), s3.url("d/"))
    streams["wrong key stdout"], streams["wrong key stderr"] = out, err
    assert hits(tmp_path / "work", streams, [s3.secret, s3.secret[::-1]]) == []


MANIFEST_AT = S3Location("bucket-a", f"d/{MANIFEST}")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@given(st.binary(max_size=400) | JSON.map(lambda value: json.dumps(value).encode()))
def test_any_remote_manifest_bytes_are_a_manifest_or_one_line_naming_the_url(
    data: bytes,
) -> None:
    try:
        sync.parse_manifest(data, MANIFEST_AT, "push it again")
    except StoreError as error:
        message = str(error)
        assert message.startswith(f"s3://bucket-a/d/{MANIFEST}: ")
        assert message.endswith("; push it again")
        assert "\n" not in message


def test_a_frozen_manifest_read_from_its_bytes_is_the_one_read_from_its_file(
    tmp_path: Path,
) -> None:
    path = manifest_mod.manifest_path(frozen(tmp_path))
    assert sync.parse_manifest(path.read_bytes(), MANIFEST_AT, "x") == manifest_mod.read(path)


@given(st.sampled_from(sorted(manifest_mod.Manifest.__annotations__)), JSON)
def test_a_frozen_manifest_with_any_key_changed_is_a_manifest_or_one_line_naming_it(
    key: str, value: object
) -> None:
    raw: dict[str, object] = {
        "manifest_version": 1,
        "dataset": NAME,
        "sha256": "0" * 64,
        "samples": 1,
        "ids_sha256": "1" * 64,
        "sample_sha256": {"a": "2" * 16},
        "fields": {"id": ["string"]},
        "created": "2025-11-09T00:00:00Z",
        "source": "",
        "scrub": {"status": "not scrubbed", "counts": {}, "scrubber": ""},
        "tool_version": "pytest-llmbench 0.1.0",
    }
    raw[key] = value
    try:
        sync.parse_manifest(json.dumps(raw).encode(), MANIFEST_AT, "push it again")
    except StoreError as error:
        assert str(error).startswith(f"s3://bucket-a/d/{MANIFEST}: manifest key ")
        assert str(error).endswith("; push it again")
