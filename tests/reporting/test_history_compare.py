"""The history page's embedded scores: what it pairs, and how it stays bounded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.records import entry, make_record, run_on, variants_run

from pytest_llmbench.reporting import history, history_compare
from pytest_llmbench.results import record as record_mod


def test_a_scenario_embeds_its_sample_ids_and_scores_with_none_for_unscored() -> None:
    record = make_record([entry(0, 0.5), entry(1, None), entry(2, 0.75)])
    assert history_compare.paired_scores(record["scenarios"]["digest"]) == {
        "": {
            "ids": ["s-01", "s-02", "s-03"],
            "scores": {"accuracy": [0.5, None, 0.75]},
            "left_out": 0,
        }
    }


def test_variants_embed_one_option_each_in_their_order() -> None:
    record = variants_run({"small": [0.5, 0.25], "large": [1.0]})
    embedded = history_compare.paired_scores(record["scenarios"]["digest"])
    assert list(embedded) == ["small", "large"]
    assert embedded["large"] == {"ids": ["s-01"], "scores": {"accuracy": [1.0]}, "left_out": 0}


def test_a_run_past_the_sample_bound_embeds_its_first_samples_and_the_page_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(history_compare, "MAX_OPTION_SAMPLES", 4)
    record_mod.write(run_on(10, 0.9), tmp_path / "10.json")  # six samples
    runs, _ = history.load_runs(tmp_path)
    option = runs[0]["scenarios"]["digest"][history_compare.SCORES][""]
    assert (option["ids"], option["left_out"]) == (["s-01", "s-02", "s-03", "s-04"], 2)
    assert history_compare.left_out_notes(runs) == [
        "1 run (or variants) hold more than 4 samples of a scenario: the page pairs the "
        "first 4 of each, `llmbench compare` all of them."
    ]


def test_past_the_page_bound_the_oldest_runs_scores_go_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(history_compare, "MAX_PAGE_SCORES", 13)  # two runs of six fit
    for day in (12, 10, 11):  # file order is not time order
        record_mod.write(run_on(day, 0.9), tmp_path / f"{20 - day}.json")
    runs, _ = history.load_runs(tmp_path)
    assert [bool(r.get("scores_left_out")) for r in runs] == [True, False, False]
    page = history.render_html(runs)
    block = page.split('id="llmbench-scores">', 1)[1].split("</script>", 1)[0]
    options = json.loads(block)["scenarios"][0]["options"]
    assert [o["run"] for o in options] == ["20251112T030000Z-000012", "20251111T030000Z-000011"]
    assert (
        "The 1 oldest run cannot be picked: the page embeds at most 13 scores, newest runs "
        "first (compare them with `llmbench compare A.json B.json`)."
    ) in page


def test_a_judge_metric_embeds_its_score_range_for_the_clipping() -> None:
    record = run_on(10, 0.9)
    data = history_compare.page_data(["digest"], [record], history.option_label)
    assert data["scenarios"][0]["metrics"] == [
        {"name": "accuracy", "better": "higher", "bounds": [0.0, 1.0]}
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_the_embedded_json_never_holds_what_could_end_its_script_and_reads_back(
    data: object,
) -> None:
    text = history_compare.script_json(data)
    assert text.isascii()
    assert not {"<", ">", "&"} & set(text)
    assert json.loads(text) == data
