"""Retry decisions and backoff as pure functions (no HTTP)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchframe._config import RetryPolicy
from batchframe._retry import MAX_RETRY_AFTER, backoff_delay, parse_retry_after, should_retry

POLICY = RetryPolicy(max_retries=3, initial_delay=0.5, max_delay=8.0)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 599])
def test_retryable_statuses(status: int) -> None:
    assert should_retry(POLICY, attempt=0, status_code=status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 412, 413, 415, 422])
def test_final_statuses(status: int) -> None:
    assert not should_retry(POLICY, attempt=0, status_code=status)


def test_connection_errors_retry_until_the_budget_is_spent() -> None:
    assert [should_retry(POLICY, attempt=a, connection_error=True) for a in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_no_status_and_no_connection_error_is_final() -> None:
    assert not should_retry(POLICY, attempt=0)


@given(attempt=st.integers(0, 60), r=st.floats(0, 1))
def test_backoff_is_capped_and_jittered(attempt: int, r: float) -> None:
    delay = backoff_delay(POLICY, attempt, rand=lambda: r)
    cap = min(POLICY.max_delay, POLICY.initial_delay * 2**attempt)
    assert 0 <= delay <= cap
    assert delay == pytest.approx(r * cap)


def test_backoff_grows_exponentially_before_the_cap() -> None:
    delays = [backoff_delay(POLICY, a, rand=lambda: 1.0) for a in range(6)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


@given(attempt=st.integers(0, 10), retry_after=st.floats(0, 1000))
def test_backoff_honours_retry_after(attempt: int, retry_after: float) -> None:
    delay = backoff_delay(POLICY, attempt, retry_after=retry_after, rand=lambda: 0.0)
    assert delay == min(retry_after, MAX_RETRY_AFTER)


def test_parse_retry_after_forms() -> None:
    now = dt.datetime(2026, 1, 1, 0, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("99999") == MAX_RETRY_AFTER
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
