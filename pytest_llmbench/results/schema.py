"""The wire between processes and runs, typed: the sample payload and the run record.

A payload rides on a test report from the item process to the controller (xdist moves it
as builtins); a run record is what the controller writes and every later reader (baselines,
``llmbench`` subcommands, history, exporters) reads back. Each is built in one place
(``run/payload.py``, ``results/record.py``) and read through these types everywhere.
Only builtins go in: str, int, float, bool, None, list, dict.

Keys that a record written by an earlier 0.1 release may lack are in the ``total=False``
halves, so ``load_record`` can hand such a record on.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

# How a 95% interval was made (results/statistics.py): the mean's "bootstrap-t" (widened
# to contain the t interval) or "t", the percentile "bootstrap" of a median or p95, a
# rate's "wilson", "none" with fewer than two values.
IntervalMethod = Literal["t", "bootstrap-t", "bootstrap", "wilson", "corpus bootstrap", "none"]

SampleStatus = Literal["scored", "unscored", "error"]
Status = Literal["pass", "warn", "fail"]
MetricStatus = Literal["pass", "warn", "fail", "no data"]


class JudgeCallStats(TypedDict, total=False):
    """What one sample's judge call cost. Empty for the dry-run judge, which makes no call."""

    cached: bool  # answered from the reply cache: no HTTP request, no cost
    attempts: int  # HTTP requests made (1 + retries)
    retries: int
    prompt_tokens: int
    completion_tokens: int
    latency_s: float  # the call's wall time; only on the payload (it differs between runs)


class _RepeatRequired(TypedDict):
    scores: dict[str, float]  # the judged metrics of this judgement, sorted; {} unscored
    status: Literal["scored", "unscored"]


class Repeat(_RepeatRequired, total=False):
    """One of a sample's `repeats:` judgements (``samples[].repeats[]``), in repeat order."""

    reason: str  # why this judgement has no scores


class _SamplePayloadRequired(TypedDict):
    v: int  # PAYLOAD_VERSION: a report attribute of another version is ignored
    scenario: str
    sample_id: str
    item_id: str  # the test id's parameter part
    position: int  # the sample's 0-based line order in the dataset
    nodeid: str
    status: SampleStatus
    reason: str | None  # why unscored or error; None when scored
    reason_code: str | None  # the reason as a code (problems.ReasonCode); None when scored
    scores: dict[str, float]  # sorted by metric name
    prompt_sha256: str | None  # the rendered prompt's hash, None when nothing was judged
    judge: JudgeCallStats
    outcome: str  # the test's outcome: passed, failed, skipped
    extra: dict[str, Any]  # what pytest_llmbench_sample_payload implementations added


class SamplePayload(_SamplePayloadRequired, total=False):
    """One sample's result, from the item process to the controller (``report.llmbench``).
    The judge's words are present only when there are some (never for the dry-run judge)."""

    raw_scores: dict[str, float]  # with a prompt's declared scale: the scores as written
    judge_reasoning: str  # the judge's reasoning, at most reply_parsing.TEXT_LIMIT characters
    judge_raw: str  # the message content of the judge's last reply, bounded the same way
    output_cached: bool  # with output_cache: the output came from the cache (not produced)
    output_latency_s: float  # the output function's seconds for this item, when it ran
    reference_stats: dict[str, list[float]]  # per `aggregate: corpus` metric (see SampleRecord)
    unscored_metrics: dict[str, str]  # see SampleRecord
    repeats: list[Repeat]  # with repeats: K > 1, each judgement; `scores` holds their mean
    variant: str  # with `variants:`, the variant this item ran (see SampleRecord)


class _SampleRecordRequired(TypedDict):
    id: str
    item_id: str
    position: int
    nodeid: str
    status: SampleStatus
    reason: str | None
    outcome: str
    scores: dict[str, float]
    prompt_sha256: str | None
    judge: JudgeCallStats  # without latency_s: the record's samples are run-independent


class SampleRecord(_SampleRecordRequired, total=False):
    """A sample in the run record (``scenarios.<name>.samples[]``)."""

    # with a reason: budget_exhausted, judge, test_error, not_judged or metric (a metric
    # computed in the item process had no score)
    reason_code: str
    extra: dict[str, Any]  # the payload's extra, when a hook added any
    raw_scores: dict[str, float]  # with a prompt's declared scale: the judged scores as written
    judge_reasoning: str  # the judge's reasoning (its reasoning block or reasoning_content,
    # else the prose around the JSON), at most 2,000 characters, cut in the middle
    judge_raw: str  # the judge's last reply as it came (also an unusable one), as bounded
    output_cached: bool  # with output_cache: the `output` came from the cache, the
    # scenario's output function not called for it
    reference_stats: dict[str, list[float]]  # per metric with `aggregate: corpus`: the
    # sample's sufficient statistics (sacrebleu's for bleu, ter, chrf++; n-gram counts for
    # chrf; [edits, reference words] for wer), summed over samples for the corpus score
    unscored_metrics: dict[str, str]  # per metric computed in the item process (source:
    # similarity) that has no score for this sample: why (the embedder's error)
    repeats: list[Repeat]  # with repeats: K > 1, each judgement in repeat order; the
    # judged metrics in `scores` are the mean over its scored repeats
    variant: str  # with `variants:`: the variant of this item; `id` stays the sample's, so
    # a sample appears once per variant, and (id, variant) is unique in the scenario


# ``scenarios.<name>.metrics.<metric>``: the aggregate against its bands ("pass" and "warn"
# are the band's edges, "band" the same in words). Functional syntax: "pass" is a keyword.
_MetricRecordRequired = TypedDict(
    "_MetricRecordRequired",
    {
        "value": float | None,  # None with no scored sample
        "n": int,
        "ci95": list[float] | None,  # [low, high]
        "status": MetricStatus,
        "pass": float,
        "warn": float,
        "better": str,
        "aggregate": str,
        "source": str,
        "band": str,
    },
)


class Agreement(TypedDict):
    """How far the judge agrees with itself across a sample's repeats: ICC(1), the share
    of the score's variance that lies between samples (1: every repeat the same)."""

    method: Literal["ICC(1)"]  # one-way random effects, single judgement (Shrout & Fleiss)
    value: float | None  # None when the scores do not vary at all
    ci95: list[float] | None  # [low, high], from the F distribution; None with value
    samples: int  # samples with at least two scored repeats
    repeats: float  # judgements per sample (k0: their average, adjusted when unequal)


class MetricRecord(_MetricRecordRequired, total=False):
    """``scenarios.<name>.metrics.<metric>``: the aggregate against its bands ("pass" and
    "warn" are the band's edges, "band" the same in words). With `repeats:`, a judged
    metric's value is over the samples' means of their repeats."""

    signature: str  # a library metric's: sacrebleu's signature string, or rouge-score's or
    # jiwer's version, tokenizer and normalisation; what a reader cites the score with
    noise_sd: float  # pooled within-sample SD of the repeats (>= 2 scored repeats each)
    agreement: Agreement
    resolution: float  # the smallest change the judge's noise lets a gate see (noise.py)
    ci_method: IntervalMethod  # how ci95 was made (results/statistics.py summarize);
    # absent from records written before it was stated (those used "t" for a mean)


class CallTally(TypedDict):
    """What one scenario's judge calls cost in one process, counted where they were made;
    crosses from an xdist worker in its ``workeroutput``."""

    calls: int
    http_requests: int
    retries: int
    prompt_tokens: int
    completion_tokens: int


class _UsageRequired(TypedDict):
    judge_calls: int  # calls answered over HTTP (cached ones apart)
    cached: int
    http_requests: int
    retries: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None  # None without a price (or for the dry-run judge)


class OutputCounts(TypedDict):
    """``scenarios.<name>.outputs``, with ``output_cache:``: where the samples' outputs
    came from."""

    produced: int  # the output function was called
    cached: int  # read from the output cache


class Usage(_UsageRequired, total=False):
    """``scenarios.<name>.usage``: judge calls over the scenario's samples."""

    # Calls judged ahead of their items that no item took (the body judged other text,
    # or the run ended first); not in judge_calls, http_requests or tokens. Only when > 0.
    ahead_unused: int


class _DatasetFingerprintRequired(TypedDict):
    path: str
    sha256: str  # the file's bytes
    samples: int


class DatasetFingerprint(_DatasetFingerprintRequired, total=False):
    inputs_sha256: str  # ids, inputs and references: what makes two runs comparable


class JudgeFingerprint(TypedDict):
    name: str
    kind: str
    mode: Literal["live", "dry-run"]
    mode_reason: str
    model: str  # "" for the dry-run judge
    base_url: str  # redaction.public_url of it; "" for the dry-run judge


class PromptFingerprint(TypedDict):
    ref: str  # name@version, "" without a judge prompt
    sha256: str


# A metric's band as it decided the verdict (``fingerprints.metrics.<name>``).
_MetricRuleRequired = TypedDict(
    "_MetricRuleRequired",
    {"pass": float, "warn": float, "better": str, "source": str, "aggregate": str},
)


class MetricRule(_MetricRuleRequired, total=False):
    signature: str  # a library metric's (MetricRecord.signature), decided where it ran


class Fingerprints(TypedDict):
    dataset: DatasetFingerprint
    judge: JudgeFingerprint
    prompt: PromptFingerprint
    metric_order: list[str]  # the YAML's order (JSON objects are written with sorted keys)
    metrics: dict[str, MetricRule]


class _MetricComparisonRequired(TypedDict):

    baseline: float | None
    current: float | None
    diff: float | None
    ci95: list[float] | None
    compared: int
    new: int
    missing: int
    margin: float
    better: str
    underpowered: bool
    status: Literal["ok", "regression", "improved", "no overlap"]


class MetricComparison(_MetricComparisonRequired, total=False):
    """One metric against the baseline, paired by sample id."""

    ci_method: IntervalMethod  # how ci95 was made (statistics.paired_difference)


class _ComparisonRequired(TypedDict):
    status: Literal["ok", "regression", "not comparable"]


class Comparison(_ComparisonRequired, total=False):
    """``scenarios.<name>.comparison``: the scenario against its baseline."""

    reasons: list[str]  # when not comparable
    severity: Literal["error", "warn"]
    regressed: list[str]
    underpowered: bool
    method: str
    metrics: dict[str, MetricComparison]
    most_regressed: list[RegressedSample]
    # With `variants:`: each variant against the same variant in the baseline. The keys
    # above are then the reference variant's (what older readers show), and `status` is
    # "regression" when a gated variant regressed.
    variants: dict[str, VariantComparison]


class _VariantComparisonRequired(TypedDict):
    # "new": the baseline has no such variant; "not comparable": its fingerprint changed
    status: Literal["ok", "regression", "not comparable", "new"]
    gated: bool


class VariantComparison(_VariantComparisonRequired, total=False):
    """``comparison.variants.<variant>``: one variant against its baseline self, paired
    by sample id (the keys as in ``Comparison``)."""

    reasons: list[str]  # when not comparable (or new): what changed
    regressed: list[str]
    underpowered: bool
    metrics: dict[str, MetricComparison]
    most_regressed: list[RegressedSample]


class RegressedSample(TypedDict):
    """One of ``comparison.most_regressed``: a sample whose regressed metrics dropped most."""

    id: str
    nodeid: str
    drops: dict[str, float]  # per regressed metric, positive for a drop
    worst: float


class RegressionRulesRecord(TypedDict):
    margins: dict[str, float]  # per metric, beside the default
    default_margin: float
    severity: Literal["error", "warn"]
    min_samples: int


class UnscoredRulesRecord(TypedDict):
    warn: float  # a count of samples, or a share of the selection when below 1
    fail: float


class ScenarioRules(TypedDict):
    """The rules that decided a scenario's verdict, so every reader of the record (merge,
    ``llmbench report``, the nightly) decides the same way without the YAML."""

    fail_on_warn: bool
    regression: RegressionRulesRecord
    unscored: UnscoredRulesRecord


class NotifyRules(TypedDict):
    on: list[str]  # the outcomes that alert: fail, warn, regression, pass


class RunRules(TypedDict):
    notify: NotifyRules


class Counts(TypedDict):
    scored: int
    unscored: int
    error: int


class _VariantUsageRequired(TypedDict):
    judge_calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None  # None without a price (or for the dry-run judge)


class VariantUsage(_VariantUsageRequired, total=False):
    """One variant's share of the scenario's judge use (from its samples' entries)."""

    # Mean seconds the output function took for this variant's items. A time, so never in
    # a written record's scenarios (they are identical across xdist modes): the controller
    # keeps it in ``run.output_latency_s.<scenario>.<variant>`` and readers add it back.
    output_latency_s: float | None


class VariantSummary(TypedDict):
    """``scenarios.<name>.variants.variants.<variant>``: one variant's aggregates and verdict."""

    params: dict[str, Any]  # as the YAML gave them
    fingerprint: str  # sha256 of {params, output function, output_version}, canonical JSON
    samples: int  # this variant's items in the record
    status: Status  # its own bands' verdict (gated or not)
    gated: bool  # named by `gate:` (default: every variant)
    metrics: dict[str, MetricRecord]
    counts: Counts
    usage: VariantUsage


class VariantDifference(TypedDict):
    """One metric of one variant against the reference, over the samples both scored."""

    variant: str
    against: str  # the reference variant
    metric: str
    n: int  # samples both variants scored on this metric
    mean_diff: float | None  # mean of (variant - reference); None when n == 0
    ci95: list[float] | None  # paired interval of the mean difference; None when n < 2
    ci_method: IntervalMethod
    better: str  # "higher" or "lower", the metric's direction
    # "better"/"worse" only when the interval excludes zero in that direction; never a
    # winner when it includes zero (or there is no interval)
    status: Literal["better", "worse", "no detectable difference"]


class VariantsRecord(TypedDict):
    """``scenarios.<name>.variants``: the variants of a scenario side by side, in one run."""

    order: list[str]  # the YAML's order
    reference: str  # the variant compared against: `reference:` or the first
    gate: list[str]  # the variants whose bands decide the scenario's verdict
    variants: dict[str, VariantSummary]
    differences: list[VariantDifference]  # per non-reference variant, per metric, in order


class _ScenarioRecordRequired(TypedDict):
    status: Status
    problems: list[str]
    fail_on_warn: bool
    fingerprints: Fingerprints
    metrics: dict[str, MetricRecord]
    counts: Counts
    usage: Usage
    samples: list[SampleRecord]  # in dataset order


class SelectionRecord(TypedDict):
    """What the run selected of the scenario (of its shard, in a shard's record)."""

    kind: Literal["all", "smoke", "subset"]  # a subset reports and is not gated
    selected: int
    of: int


class ScenarioRecord(_ScenarioRecordRequired, total=False):
    """``scenarios.<name>``: one scenario's samples, aggregates and verdict."""

    selection: SelectionRecord  # absent in records of 0.1 before selections were stored
    rules: ScenarioRules  # absent in records of 0.1 before the rules were stored
    comparison: Comparison  # with a baseline
    outputs: OutputCounts  # with output_cache: on, over the samples that used `output`
    variants: VariantsRecord  # with `variants:`; `metrics` then holds the reference's


class Shard(TypedDict):
    index: int
    count: int


class BaselineSummary(TypedDict):
    id: str | None
    commit: str | None
    branch: str | None
    date: str | None
    status: str | None


class _RunRecordRequired(TypedDict):
    schema: str  # SCHEMA
    status: Status
    gated: bool  # False: a shard, a node-id selection or a partial run (reported only)
    gate_note: str
    partial: bool
    partial_reason: str | None
    problems: list[str]
    verdict_note: str | None
    shard: Shard | None
    baseline: BaselineSummary | None
    scenarios: dict[str, ScenarioRecord]


class RunBudget(TypedDict):
    """``run.budget``, with a budget: what the run's judge calls could and did spend. In
    ``run``, as which calls it stopped can differ between xdist modes."""

    limit_usd: float
    spent_usd: float  # every process's settled calls (a call lost with its helper: its worst case)
    held_usd: float  # still held at the end: calls whose process died in the middle of them
    refused_calls: int  # calls not sent because their worst case did not fit


class GitInfo(TypedDict, total=False):
    commit: str | None
    branch: str | None


class RunBlock(TypedDict, total=False):
    """What readers of a record read of its ``run`` block (``RunRecord.run`` stays an open
    dict: the controller and merge add to it); a record read back is checked against this."""

    id: str
    started_at: str | None
    finished_at: str | None
    duration_s: float | None
    compute_s: float | None  # a merged record: the shards' durations summed
    exitstatus: int | None
    argv: list[str]
    workers: int | str | None
    python: str | None
    pytest: str | None
    git: GitInfo | None
    judge_latency_s: dict[str, list[float]]
    # with `variants:`: per scenario, per variant, the output function's mean seconds
    output_latency_s: dict[str, dict[str, float | None]]
    budget: RunBudget
    shards: list[dict[str, Any]]  # a merged record: each shard's own run block, in short


class RunRecord(_RunRecordRequired, total=False):
    """A run record: ``--llmbench-json`` and ``.llmbench/runs/<run-id>.json``.

    Everything outside ``run`` is the same with no xdist, ``-n 0`` and ``-n 2``.
    """

    run: dict[str, Any]  # id, times, exitstatus, argv, workers, versions, git, latencies, budget
    rules: RunRules  # the run-wide rules (notify); absent in older records
