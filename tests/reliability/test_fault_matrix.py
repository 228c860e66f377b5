"""Faults lose nothing and duplicate nothing: a seeded matrix of fault settings and sizes.

Each scenario submits a frame through ``bf.submit`` to a fresh local server with injected 500/503
answers, dropped connections, rate limits and failing requests, waits, reads the results, and
checks every input row exactly once with its own answer (or a failure text), one batch, and as
many requests on the server as rows. ``bench/soak.py`` runs the same scenarios at larger scale.
"""

from __future__ import annotations

import pathlib
from collections import Counter

import pytest
from fault_scenarios import Outcome, Scenario, make_matrix, run_scenario

MATRIX = make_matrix(60, seed=20260)


def assert_clean(outcome: Outcome) -> None:
    sc = outcome.scenario
    assert outcome.rows_checked == sc.rows
    assert (outcome.lost, outcome.duplicated, outcome.wrong) == (0, 0, 0), outcome
    assert outcome.server_batches == 1, outcome
    assert outcome.server_requests == sc.rows, outcome
    assert outcome.faults["internal_errors"] == 0
    if sc.fail_rate == 0.0:
        assert outcome.failed_rows == 0
    if sc.fail_rate == 1.0:
        assert outcome.failed_rows == sc.rows


def test_matrix_is_large_and_mixed() -> None:
    assert len(MATRIX) >= 50
    assert sum(sc.loopback for sc in MATRIX) >= 10
    assert sum(sc.add_calls_per_30s is not None for sc in MATRIX) >= 5
    assert any(sc.http_error_rate and sc.drop_rate and sc.fail_rate for sc in MATRIX)


@pytest.mark.parametrize("scenario", MATRIX, ids=[f"s{i:02d}" for i in range(len(MATRIX))])
def test_scenario_loses_and_duplicates_nothing(scenario: Scenario, tmp_path: pathlib.Path) -> None:
    outcome = run_scenario(scenario, tmp_path)
    assert_clean(outcome)
    if scenario.add_calls_per_30s is not None:
        # 429s came back and the client waited at least their Retry-After (>= 1 s) before retrying
        assert outcome.faults["http_429"] >= 3
        assert outcome.longest_sleep_asked >= 1.0


def test_every_fault_kind_is_injected_and_survived(tmp_path: pathlib.Path) -> None:
    """Guards the matrix itself: the faults really happen (else the other tests prove nothing)."""
    seen: Counter[str] = Counter()
    failed = 0
    for i in range(4):
        sc = Scenario(
            seed=7000 + i,
            rows=120,
            chunk_rows=6,
            http_error_rate=0.3,
            drop_rate=0.2,
            fail_rate=0.3,
            loopback=i % 2 == 1,
        )
        outcome = run_scenario(sc, tmp_path / str(i))
        assert_clean(outcome)
        seen.update(outcome.faults)
        failed += outcome.failed_rows
    assert seen["http_500"] > 0 and seen["http_503"] > 0 and seen["dropped"] > 0
    assert 0 < failed < 4 * 120


@pytest.mark.slow
def test_tens_of_thousands_of_rows_in_small_chunks_over_loopback(tmp_path: pathlib.Path) -> None:
    sc = Scenario(
        seed=424242,
        rows=20_000,
        chunk_rows=200,
        http_error_rate=0.1,
        drop_rate=0.05,
        fail_rate=0.1,
        loopback=True,
        concurrency=4,
        shuffled_index=True,
    )
    outcome = run_scenario(sc, tmp_path)
    assert_clean(outcome)
    assert outcome.faults["http_500"] + outcome.faults["http_503"] > 0
    assert outcome.faults["dropped"] > 0
    assert 0 < outcome.failed_rows < sc.rows
