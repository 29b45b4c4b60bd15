"""The retry policy of the judge client, as pure functions: what is transient, how long to wait."""

from __future__ import annotations

import math
import random
from datetime import timezone
from email.utils import parsedate_to_datetime

__all__ = ["TRANSIENT_STATUSES", "backoff_delay", "is_transient_status", "parse_retry_after"]

# Timeouts, rate limits and the gateway errors a restarting or overloaded server gives.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def backoff_delay(retry_index: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Seconds to wait before retry `retry_index` (0 for the first): exponential, full jitter.

    Full jitter (uniform over the whole window) spreads concurrent callers that failed
    together, so they do not come back together.
    """
    if base_s <= 0.0 or cap_s <= 0.0:
        return 0.0
    # 2**i overflows a float past ~1024; the cap is reached long before.
    window = cap_s if retry_index >= 64 else min(cap_s, base_s * 2.0 ** max(retry_index, 0))
    return rng.uniform(0.0, window)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds a Retry-After header asks for, given `now` in epoch seconds; None if unreadable.

    Delta-seconds are read leniently (fractions too, as some servers send them); an
    HTTP-date is measured from `now`. A date or a delta in the past means 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until_date(text, now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def is_transient_status(code: int) -> bool:
    """Whether an HTTP status is worth retrying unchanged."""
    return code in TRANSIENT_STATUSES


def _seconds_until_date(text: str, now: float) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)  # HTTP-dates are GMT by definition
    try:
        return max(0.0, when.timestamp() - now)
    except (OverflowError, OSError, ValueError):
        return None
