"""The upload pacing (pure limiter, fake clock) and the chunked sending loop."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from batchframe.client import Client
from batchframe.frame.encode import EncodedRequests, encode_requests
from batchframe.frame.upload import CallLimiter, upload_requests


class FakeClock:
    """A clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_limiter_allows_budget_then_waits_for_window() -> None:
    clock = FakeClock()
    limiter = CallLimiter(3, period=30, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(7):
        limiter.acquire()
        starts.append(clock.now)
    assert starts == [0, 0, 0, 30, 30, 30, 60]


def test_limiter_never_exceeds_budget_in_any_window() -> None:
    clock = FakeClock()
    limiter = CallLimiter(5, period=30, clock=clock, sleep=clock.sleep)
    starts = []
    for i in range(40):
        clock.now += (i % 4) * 1.7  # irregular gaps between calls
        limiter.acquire()
        starts.append(clock.now)
    for t in starts:
        in_window = [s for s in starts if t <= s < t + 30]
        assert len(in_window) <= 5


def test_limiter_rolls_the_window_instead_of_resetting_it() -> None:
    clock = FakeClock()
    limiter = CallLimiter(2, period=30, clock=clock, sleep=clock.sleep)
    limiter.acquire()  # t=0
    clock.now = 20.0
    limiter.acquire()  # t=20
    assert limiter.acquire() == pytest.approx(10.0)  # the t=0 start leaves the window at 30
    assert clock.now == pytest.approx(30.0)
    assert limiter.delay() == pytest.approx(20.0)  # next: when the t=20 start leaves


def test_limiter_no_wait_when_calls_are_spread_out() -> None:
    clock = FakeClock()
    limiter = CallLimiter(1, period=30, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        assert limiter.acquire() == 0.0
        clock.now += 30.0
    assert clock.sleeps == []


def test_limiter_fractional_budget_spreads_calls() -> None:
    clock = FakeClock()
    limiter = CallLimiter(0.5, period=30, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.acquire()
    assert clock.now == pytest.approx(60.0)


@pytest.mark.parametrize("calls", [0, -1, float("nan")])
def test_limiter_rejects_a_non_positive_budget(calls: float) -> None:
    with pytest.raises(ValueError, match="calls"):
        CallLimiter(calls)


def test_limiter_is_thread_safe() -> None:
    clock = FakeClock()
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            clock.sleep(seconds)

    limiter = CallLimiter(4, period=30, clock=clock, sleep=sleep)
    starts: list[float] = []

    def worker() -> None:
        for _ in range(5):
            limiter.acquire()
            with lock:
                starts.append(clock.now)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(starts) == 20
    assert sorted(starts) == [0.0] * 4 + [30.0] * 4 + [60.0] * 4 + [90.0] * 4 + [120.0] * 4


# -- the sending loop against the in-process server ----------------------------------------


def _encoded(n: int) -> EncodedRequests:
    return encode_requests(
        pd.DataFrame({"q": [f"question {i}" for i in range(n)]}), prompt="q", model="grok-4.3"
    )


def _join_upload_threads() -> None:
    for thread in threading.enumerate():
        if thread.name.startswith("batchframe-upload"):
            thread.join()


def test_upload_sends_every_chunk_and_reports_progress(client: Client) -> None:
    encoded = _encoded(45)
    batch = client.create_batch("up")
    seen: list[tuple[int, int, int]] = []
    report = upload_requests(
        client,
        batch.batch_id,
        encoded,
        chunk_rows=10,
        progress=False,
        on_chunk=lambda *a: seen.append(a),
    )
    assert report.rows == 45 and report.chunks == 5
    assert [s[1] for s in seen] == [1, 2, 3, 4, 5] and seen[-1][0] == 45 and seen[-1][2] == 5
    ids = [m.batch_request_id for m in client.iter_requests(batch.batch_id)]
    assert sorted(ids) == sorted(encoded.ids)


def test_upload_of_chosen_indices_adds_only_those(client: Client) -> None:
    encoded = _encoded(20)
    batch = client.create_batch("some")
    picked = [1, 3, 5, 19]
    report = upload_requests(
        client, batch.batch_id, encoded, indices=picked, chunk_rows=3, progress=False
    )
    assert report.rows == 4 and report.chunks == 2
    ids = sorted(m.batch_request_id for m in client.iter_requests(batch.batch_id))
    assert ids == sorted(encoded.ids[i] for i in picked)


def test_ctrl_c_stops_starting_new_chunks(client: Client) -> None:
    encoded = _encoded(30)
    batch = client.create_batch("ctrl-c")

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt  # the user pressed Ctrl-C while the upload was being paced

    limiter = CallLimiter(1, sleep=interrupt)
    with pytest.raises(KeyboardInterrupt):
        upload_requests(
            client, batch.batch_id, encoded, chunk_rows=10, limiter=limiter, progress=False
        )
    _join_upload_threads()  # the chunk already in flight is allowed to finish
    assert client.get_batch(batch.batch_id).num_requests == 10


def test_a_bad_concurrency_is_refused(client: Client) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        upload_requests(client, "batch_x", _encoded(2), concurrency=0, progress=False)
