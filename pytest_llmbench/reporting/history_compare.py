"""The history page's side-by-side comparison: the per-sample scores it embeds, bounded,
and the inline script that pairs them (templates/history_compare.js).

The page holds at most ``MAX_PAGE_SCORES`` scores in all, newest runs first, and at most
``MAX_OPTION_SAMPLES`` samples of one run (or one variant of a run), the first in the
record's order; the page says what it left out. The scores are one JSON document in a
``<script type="application/json">`` element, written so that no record text can end it
(every ``<``, ``>`` and ``&`` escaped, and all that is not ASCII). The page's CSP allows
that one inline script by its SHA-256 and nothing else: no fetch, no other script.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any, cast

from pytest_llmbench.results.bands import source_range

MAX_PAGE_SCORES = 200_000  # about 4 MB of page at worst; a year of nightly runs of 500 samples
MAX_OPTION_SAMPLES = 5_000
SCORES = "paired_scores"  # the key a run summary keeps its scenarios' scores under
_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


def paired_scores(scenario: Mapping[str, Any]) -> dict[str, Any]:
    """What the page pairs of one scenario of a record: per variant ("" without variants),
    the first MAX_OPTION_SAMPLES sample ids and each metric's score (None: not scored)."""
    metrics = list(scenario["metrics"])
    by_variant: dict[str, dict[str, Any]] = {}
    for variant in variant_names(scenario):
        own = [s for s in scenario["samples"] if s.get("variant", "") == variant]
        kept = own[:MAX_OPTION_SAMPLES]
        by_variant[variant] = {
            "ids": [str(s["id"]) for s in kept],
            "scores": {
                m: [
                    float(s["scores"][m]) if s["status"] == "scored" and m in s["scores"] else None
                    for s in kept
                ]
                for m in metrics
            },
            "left_out": len(own) - len(kept),
        }
    return by_variant


def variant_names(scenario: Mapping[str, Any]) -> list[str]:
    """The scenario's variants, the reference first and the rest in order, or [""] when it
    has none."""
    block = scenario.get("variants")
    if block:
        reference = str(block["reference"])
        return [reference] + [str(v) for v in block["order"] if v != reference]
    found = sorted({str(s["variant"]) for s in scenario["samples"] if "variant" in s})
    return found or [""]


def scores_of(scenario: Mapping[str, Any]) -> dict[str, Any]:
    """A scenario's paired scores: kept in a run summary, or read from a whole record."""
    if SCORES in scenario:
        return dict(scenario[SCORES])
    return paired_scores(scenario) if "samples" in scenario else {}


def score_count(run: Mapping[str, Any]) -> int:
    return sum(
        len(values)
        for scenario in run["scenarios"].values()
        for option in (scenario.get(SCORES) or {}).values()
        for values in option["scores"].values()
    )


def keep_within_budget(runs: Iterable[Mapping[str, Any]], order_key: Any) -> None:
    """Drop the scores of the oldest runs (by ``order_key``) until the rest hold at most
    MAX_PAGE_SCORES; a run whose scores went is marked ``scores_left_out``. The runs are
    history's summaries (dicts it made), changed in place."""
    holding = sorted((r for r in runs if score_count(r)), key=order_key)
    total = sum(score_count(r) for r in holding)
    for run in holding:
        if total <= MAX_PAGE_SCORES:
            break
        total -= score_count(run)
        kept = cast(dict[str, Any], run)
        for scenario in kept["scenarios"].values():
            scenario.pop(SCORES, None)
        kept["scores_left_out"] = True


def page_data(
    names: Sequence[str], runs: Sequence[Mapping[str, Any]], label: Any
) -> dict[str, Any]:
    """The JSON the script reads: per scenario (in ``names``' order), its metrics (newest
    run's direction and score range) and its pickable options, newest run first."""
    scenarios = []
    for name in names:
        having = [r for r in runs if name in r["scenarios"]]
        metrics: dict[str, dict[str, Any]] = {}
        for run in having:  # oldest first: the newest run's settings win
            for metric, m in run["scenarios"][name]["metrics"].items():
                bounds = source_range(str(m["source"]))
                metrics[metric] = {
                    "name": metric,
                    "better": m["better"],
                    "bounds": None if bounds is None else [_finite(b) for b in bounds],
                }
        order = {m: None for r in having for m in r["scenarios"][name]["metrics"]}
        options = []
        for run in reversed(having):
            for variant, option in scores_of(run["scenarios"][name]).items():
                options.append(
                    {
                        "run": str((run.get("run") or {}).get("id") or ""),
                        "variant": variant or None,
                        "label": label(run) + (f" · {variant}" if variant else ""),
                        "ids": option["ids"],
                        "scores": option["scores"],
                    }
                )
        scenarios.append({"name": name, "metrics": [metrics[m] for m in order], "options": options})
    return {"scenarios": scenarios}


def left_out_notes(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """What the page does not embed, in words."""
    notes = []
    dropped = sum(1 for r in runs if r.get("scores_left_out"))
    if dropped:
        notes.append(
            f"The {dropped} oldest run{'' if dropped == 1 else 's'} cannot be picked: the page "
            f"embeds at most {MAX_PAGE_SCORES:,} scores, newest runs first "
            "(compare them with `llmbench compare A.json B.json`)."
        )
    cut = sum(
        1
        for r in runs
        for s in r["scenarios"].values()
        for o in scores_of(s).values()
        if o["left_out"]
    )
    if cut:
        notes.append(
            f"{cut} run{'' if cut == 1 else 's'} (or variants) hold more than "
            f"{MAX_OPTION_SAMPLES:,} samples of a scenario: the page pairs the first "
            f"{MAX_OPTION_SAMPLES:,} of each, `llmbench compare` all of them."
        )
    return notes


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def script_json(data: Any) -> str:
    """JSON that cannot end the ``<script>`` element it sits in, nor begin a comment."""
    text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    for char, escaped in _ESCAPES.items():
        text = text.replace(char, escaped)
    return text


@functools.lru_cache(maxsize=1)
def script() -> str:
    """The inline script, as it goes into the page."""
    source = resources.files("pytest_llmbench.reporting").joinpath("templates/history_compare.js")
    return source.read_text(encoding="utf-8")


def script_hash() -> str:
    """The CSP source that allows exactly ``script()``: 'sha256-<base64>'."""
    digest = hashlib.sha256(script().encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"
