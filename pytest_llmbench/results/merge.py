"""Joining shard records (``--llmbench-shard=K/N``) into one run record: pure functions.

The merged record is what one unsharded run of the same samples would have written, apart
from its ``run`` block: each scenario is rebuilt from the shards' sample entries (in dataset
position order) with the shards' common fingerprints, usage is summed, and the verdict is
derived and gated once. Shards that cannot make one run are refused with a MergeError
naming the files and the reason: records that are not shards, shards of different counts,
the same shard twice, missing shards (unless ``allow_partial``), differing fingerprints
(dataset, judge, prompt, metrics), differing variants (names, reference, gate, parameters)
and samples held by two shards. A scenario with ``variants:`` is rebuilt variant by
variant from the merged (sample, variant) entries, as one process builds it
(results/variants.summarize_variants), each variant's usage the sum of the shards'.

The ``run`` block: a new ``id``; ``started_at`` the earliest start and ``finished_at`` the
latest finish; ``duration_s`` the wall-clock span between them (the shards usually run side
by side) and ``compute_s`` the sum of the shards' durations; ``exitstatus`` the worst of the
shards'; ``git``, ``python`` and ``pytest`` when every shard agrees (else null, with a
note); ``shards`` one line per shard record.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

from pytest_llmbench.errors import MergeError
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results import rederive as rerecord
from pytest_llmbench.results import validation
from pytest_llmbench.results import variants as variants_mod
from pytest_llmbench.results.schema import (
    RunRecord,
    SampleRecord,
    ScenarioRecord,
    Usage,
    VariantUsage,
)
from pytest_llmbench.results.stored_rules import stored_rules

FINGERPRINT_PARTS = ("dataset", "judge", "prompt", "metrics")
Shard = tuple[str, RunRecord]  # (a label for messages, usually the path; record)


def merge(
    shards: Sequence[Shard],
    *,
    run_id: str,
    argv: Sequence[str] = (),
    allow_partial: bool = False,
) -> tuple[RunRecord, list[str]]:
    """(the merged run record, notes for the user) or MergeError."""
    if not shards:
        raise MergeError("no shard records given")
    count = _check_shards(shards)
    notes: list[str] = []
    by_index = {int(r["shard"]["index"]): label for label, r in shards if r["shard"]}
    missing = [k for k in range(1, count + 1) if k not in by_index]
    partial: list[str] = []
    if missing:
        listed = ", ".join(f"{k}/{count}" for k in missing)
        if not allow_partial:
            given = ", ".join(f"{k}/{count}" for k in sorted(by_index))
            raise MergeError(
                f"shard {listed} missing (given: {given}); pass every shard's record, or "
                "--allow-partial to merge what there is (the run is then partial and not gated)"
            )
        partial.append(f"shard {listed} missing")
        notes.append(f"shard {listed} missing: the merged run is partial and not gated")
    for _, r in shards:
        shard = r["shard"]
        if r.get("partial") and shard:
            partial.append(f"shard {shard['index']}/{shard['count']}: {r.get('partial_reason')}")
    if any(r.get("baseline") for _, r in shards):
        notes.append(
            "the shards' baseline comparisons are dropped (each covered one shard); "
            "compare the merged run with `llmbench report MERGED.json --baseline B.json`"
        )
    scenarios = {name: _merge_scenario(name, shards) for name in _scenario_names(shards)}
    subsets = sorted({n for _, r in shards for n in _selected_subsets(r)})
    record = rerecord.top_level(
        scenarios,
        gated=not subsets,
        gate_note=(
            f"The shards selected part of {', '.join(subsets)} (not the whole scenario or its "
            "smoke set): scores are reported, bands are not gated."
            if subsets
            else ""
        ),
        partial_reason="; ".join(partial) if partial else None,
        shard=None,
        baseline=None,
    )
    rules = [r["rules"] for _, r in shards if "rules" in r]
    if rules:
        record["rules"] = rules[0]  # one config: the shards' scenarios were checked alike
    record["run"] = _run_block(shards, run_id, argv, notes)
    try:  # sums of numbers each shard holds in range can pass what a record may hold
        validation.check_record(record)
    except validation.Invalid as problem:
        raise MergeError(
            f"the merged record would not read back: {problem}; are these shards damaged?"
        ) from None
    return record, notes


def _check_shards(shards: Sequence[Shard]) -> int:
    """The shard count N, once every record is a shard of N and no K is given twice."""
    seen: dict[int, str] = {}
    first_label, first = shards[0]
    first_index = first["shard"]["index"] if first["shard"] else None
    count = None
    for label, r in shards:
        shard = r.get("shard")
        if not shard:
            raise MergeError(
                f"{label}: not a shard record (it was not run with --llmbench-shard=K/N); "
                "only shard records can be merged"
            )
        index, n = int(shard["index"]), int(shard["count"])
        if count is None:
            count = n
        elif n != count:
            raise MergeError(
                f"{label} is shard {index}/{n} but {first_label} is shard "
                f"{first_index}/{count}: shards of different counts cannot be merged"
            )
        if index in seen:
            raise MergeError(f"{seen[index]} and {label} are both shard {index}/{n}")
        seen[index] = label
    assert count is not None
    return count


def _scenario_names(shards: Sequence[Shard]) -> list[str]:
    return sorted({name for _, r in shards for name in r["scenarios"]})


def _merge_scenario(name: str, shards: Sequence[Shard]) -> ScenarioRecord:
    holders = [(label, r["scenarios"][name]) for label, r in shards if name in r["scenarios"]]
    first_label, first = holders[0]
    spec = _variants_spec(name, holders)
    owner: dict[tuple[str, str | None], str] = {}
    samples: list[SampleRecord] = []
    for label, scenario in holders:
        for part in FINGERPRINT_PARTS:
            mine = scenario["fingerprints"].get(part)
            theirs = first["fingerprints"].get(part)
            if mine != theirs:
                raise MergeError(
                    f"{label}: scenario {name!r} has a different {part} from {first_label} "
                    f"({_differences(mine, theirs)}); shards must come from one config and "
                    "dataset"
                )
        if bool(scenario.get("fail_on_warn")) != bool(first.get("fail_on_warn")):
            raise MergeError(
                f"{label}: scenario {name!r} was run with fail_on_warn "
                f"{bool(scenario.get('fail_on_warn'))} but {first_label} with "
                f"{bool(first.get('fail_on_warn'))}; run every shard with the same options"
            )
        if stored_rules(scenario) != stored_rules(first):
            raise MergeError(
                f"{label}: scenario {name!r} was decided by other rules than in {first_label} "
                f"({_differences(stored_rules(scenario), stored_rules(first))}); "
                "shards must come from one config"
            )
        for sample in scenario["samples"]:
            key = (sample["id"], sample.get("variant"))
            if key in owner:
                held = f"sample {sample['id']!r}" + (
                    f" (variant {key[1]})" if key[1] is not None else ""
                )
                raise MergeError(
                    f"{owner[key]} and {label} both hold {held} of scenario {name!r}; "
                    "shards must not overlap"
                )
            owner[key] = label
            samples.append(sample)
    usage = sum_usage([s["usage"] for _, s in holders])
    if spec is None:
        block = record_mod.summarize_scenario(
            name, samples, first["fingerprints"], stored_rules(first), usage
        )
    else:
        block = variants_mod.summarize_variants(
            name, samples, first["fingerprints"], stored_rules(first), usage, spec
        )
        for variant, summary in block["variants"]["variants"].items():
            # The shards priced their calls; the merge has no price to do it again.
            summary["usage"] = cast(
                VariantUsage,
                sum_usage(
                    [cast(Usage, s["variants"]["variants"][variant]["usage"]) for _, s in holders]
                ),
            )
    kinds = [s["selection"] for _, s in holders if "selection" in s]
    if kinds:
        # Each shard said what it selected of its share: whole shares make a whole run.
        alike = {k["kind"] for k in kinds}
        block["selection"] = {
            "kind": alike.pop() if len(alike) == 1 and len(kinds) == len(holders) else "subset",
            "selected": sum(k["selected"] for k in kinds),
            "of": sum(k["of"] for k in kinds),
        }
    return block


def _variants_spec(
    name: str, holders: Sequence[tuple[str, ScenarioRecord]]
) -> variants_mod.Spec | None:
    """The scenario's variants as every shard ran them (None without variants), or
    MergeError when the shards ran other variants."""
    first_label = holders[0][0]
    specs = [
        (label, variants_mod.spec_of(s["variants"]) if "variants" in s else None)
        for label, s in holders
    ]
    for label, spec in specs[1:]:
        if spec != specs[0][1]:
            raise MergeError(
                f"{label}: scenario {name!r} ran other variants than in {first_label} "
                f"({_differences(_shown(spec), _shown(specs[0][1]))}); shards must come "
                "from one config"
            )
    return specs[0][1]


def _shown(spec: variants_mod.Spec | None) -> Any:
    if spec is None:
        return {"variants": None}
    return {
        "order": list(spec.order),
        "reference": spec.reference,
        "gate": list(spec.gate),
        "params": dict(spec.params),
        "fingerprints": dict(spec.fingerprints),
    }


def sum_usage(blocks: Sequence[Usage]) -> Usage:
    """Usage blocks added key by key; cost is the sum of the known costs (None when no
    block has one), rounded like a run's."""
    out: dict[str, Any] = {}
    plain: list[Mapping[str, Any]] = list(blocks)
    for key in sorted({k for b in plain for k in b}):
        values: list[Any] = [b[key] for b in plain if b.get(key) is not None]
        if not values:
            out[key] = None
        elif key == "cost_usd":
            out[key] = round(math.fsum(float(v) for v in values), 6)
        else:
            out[key] = sum(values)
    return cast(Usage, out)


def _differences(mine: Any, theirs: Any) -> str:
    """The first few dotted keys whose values differ: "model 'gpt-4o' vs ''"."""
    flat_mine, flat_theirs = _flatten(mine), _flatten(theirs)
    keys = sorted(
        k
        for k in flat_mine.keys() | flat_theirs.keys()
        if flat_mine.get(k, _ABSENT) != flat_theirs.get(k, _ABSENT)
    )
    parts = [
        f"{key or 'value'} {_show(flat_mine.get(key, _ABSENT))} vs "
        f"{_show(flat_theirs.get(key, _ABSENT))}"
        for key in keys[:3]
    ]
    if len(keys) > 3:
        parts.append(f"and {len(keys) - 3} more")
    return ", ".join(parts)


_ABSENT = object()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:12]  # a sha256
    return repr(value)


def _selected_subsets(r: RunRecord) -> list[str]:
    """The scenarios a shard selected only part of (of its share). A shard record from
    before selections were stored: by its command line, where a node id meant a part."""
    found = []
    argv = (r.get("run") or {}).get("argv") or []
    by_node_id = any("::" in str(arg) for arg in argv if not str(arg).startswith("-"))
    for name, scenario in r["scenarios"].items():
        selection = scenario.get("selection")
        subset = by_node_id if selection is None else selection.get("kind") == "subset"
        if subset:
            found.append(name)
    return found


def _run_block(
    shards: Sequence[Shard], run_id: str, argv: Sequence[str], notes: list[str]
) -> dict[str, Any]:
    runs = sorted(
        ((r["shard"], r.get("run") or {}) for _, r in shards if r["shard"]),
        key=lambda p: p[0]["index"],
    )
    started = [run["started_at"] for _, run in runs if run.get("started_at")]
    finished = [run["finished_at"] for _, run in runs if run.get("finished_at")]
    start, end = (min(started) if started else None), (max(finished) if finished else None)
    durations = [float(run["duration_s"]) for _, run in runs if run.get("duration_s") is not None]
    exits = [int(run["exitstatus"]) for _, run in runs if run.get("exitstatus") is not None]

    def agreed(key: str) -> Any:
        values = [run.get(key) for _, run in runs]
        if all(v == values[0] for v in values):
            return values[0]
        if key == "git":
            commits = sorted({str((v or {}).get("commit")) for v in values})
            notes.append(f"the shards measured different commits ({', '.join(commits)})")
        return None

    git = agreed("git")
    return {
        "id": run_id,
        "started_at": start,
        "finished_at": end,
        "duration_s": _span(start, end),
        "compute_s": round(math.fsum(durations), 3),
        "exitstatus": max(exits) if exits else None,
        "argv": list(argv),
        "workers": None,
        "python": agreed("python"),
        "pytest": agreed("pytest"),
        "git": git if git is not None else {"commit": None, "branch": None},
        # The shards' own grouping key (each pushed it with its shard label added).
        **({"pushgateway_group": group} if (group := agreed("pushgateway_group")) else {}),
        "judge_latency_s": _latencies(runs),
        "shards": [
            {
                "index": shard["index"],
                "count": shard["count"],
                **{
                    key: run.get(key)
                    for key in ("id", "started_at", "finished_at", "duration_s", "exitstatus")
                },
                "workers": run.get("workers"),
                "git": run.get("git"),
            }
            for shard, run in runs
        ],
    }


def _latencies(runs: Sequence[tuple[Any, Mapping[str, Any]]]) -> dict[str, list[float]]:
    """The shards' live judge call latencies, per scenario, sorted."""
    found: dict[str, list[float]] = {}
    for _, run in runs:
        for name, seconds in (run.get("judge_latency_s") or {}).items():
            found.setdefault(str(name), []).extend(float(s) for s in seconds)
    return {name: sorted(values) for name, values in sorted(found.items())}


def _span(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        a = _dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = _dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return round((b - a).total_seconds(), 3)
