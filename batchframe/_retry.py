"""Pure retry decisions and backoff, tested without HTTP.

>>> from batchframe._config import RetryPolicy
>>> should_retry(RetryPolicy(), attempt=0, status_code=503)
True
>>> should_retry(RetryPolicy(), attempt=0, status_code=412)
False
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from collections.abc import Callable

from batchframe._config import RetryPolicy

__all__ = ["backoff_delay", "parse_retry_after", "should_retry"]

#: The longest Retry-After we honour; a server asking for more is capped (and retried later).
MAX_RETRY_AFTER = 120.0


def should_retry(
    policy: RetryPolicy,
    *,
    attempt: int,
    status_code: int | None = None,
    connection_error: bool = False,
) -> bool:
    """Whether a call that failed on try number ``attempt`` (0-based) should be tried again.

    Connection errors and timeouts (``connection_error=True``), 408/409/429 and 5xx are retried;
    every other status is final (a 412 conflict, a 400, a 404 ...).
    """
    if attempt >= policy.max_retries:
        return False
    if connection_error:
        return True
    if status_code is None:
        return False
    return status_code in policy.retry_statuses or status_code >= 500


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    >>> parse_retry_after("3")
    3.0
    >>> parse_retry_after("soon") is None
    True
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    if seconds != seconds or seconds < 0:  # NaN or in the past
        return 0.0
    return min(seconds, MAX_RETRY_AFTER)


def backoff_delay(
    policy: RetryPolicy,
    attempt: int,
    *,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to sleep before retry number ``attempt + 1``.

    Capped exponential backoff with full jitter, ``rand() * min(max_delay, initial * 2**attempt)``,
    but at least the server's ``retry_after`` when it sent one.

    >>> backoff_delay(RetryPolicy(initial_delay=1, max_delay=4), 5, rand=lambda: 1.0)
    4.0
    >>> backoff_delay(RetryPolicy(), 0, retry_after=2.0, rand=lambda: 0.0)
    2.0
    """
    cap = min(policy.max_delay, policy.initial_delay * 2.0 ** max(attempt, 0))
    delay = rand() * cap
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay
