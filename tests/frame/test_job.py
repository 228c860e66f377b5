"""Job: wait (injected sleep and clock), interrupt, timeout, repr, attach, retry_failed."""

from __future__ import annotations

import os

import pandas as pd
import pytest

import batchframe as bf
from batchframe._config import PollPolicy
from batchframe.client import Client
from batchframe.errors import WaitTimeoutError
from batchframe.frame.attach import attach
from batchframe.frame.job import Job
from batchframe.frame.retry import retry_name
from batchframe.frame.spec import RequestSpec
from batchframe.server.app import BatchServer

MODEL = "grok-4.3"


def add(client: Client, ids: list[str], name: str = "job-test") -> str:
    batch = client.create_batch(name)
    items = [
        {
            "batch_request_id": rid,
            "batch_request": {
                "chat_get_completion": {
                    "model": MODEL,
                    "messages": [{"role": "user", "content": f"say {rid}"}],
                }
            },
        }
        for rid in ids
    ]
    client.add_requests(batch.batch_id, items)
    return batch.batch_id


class FakeClock:
    """Time that only moves when the job sleeps; ``on_sleep`` may act on the server."""

    def __init__(self, on_sleep: object = None) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if callable(self.on_sleep):
            self.on_sleep()


@pytest.fixture
def paused(batch_server: BatchServer) -> BatchServer:
    batch_server.engine.pause()
    return batch_server


@pytest.fixture(autouse=True)
def _progress_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCHFRAME_DISABLE_PROGRESS", raising=False)


def test_wait_polls_with_growing_intervals_until_done(paused: BatchServer, client: Client) -> None:
    batch_id = add(client, [f"r{i}" for i in range(10)])
    clock = FakeClock(on_sleep=lambda: paused.engine.step(2))
    job = Job(batch_id, client=client)
    batch = job.wait(
        progress=False,
        poll=PollPolicy(initial=1, factor=2, maximum=5),
        sleep=clock.sleep,
        clock=clock,
    )
    assert batch.is_done and batch.num_success == 10
    assert clock.sleeps == [1, 2, 4, 5, 5]
    assert job.batch is batch


def test_wait_timeout_carries_the_last_batch(paused: BatchServer, client: Client) -> None:
    batch_id = add(client, ["a", "b", "c"])
    clock = FakeClock()
    with pytest.raises(WaitTimeoutError, match="partial=True") as caught:
        Job(batch_id, client=client).wait(
            timeout=10, progress=False, sleep=clock.sleep, clock=clock
        )
    assert caught.value.batch.batch_id == batch_id
    assert caught.value.batch.num_pending == 3
    assert sum(clock.sleeps) == pytest.approx(10)  # the last sleep is cut to the deadline


def test_ctrl_c_stops_waiting_without_cancelling(
    paused: BatchServer, client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    batch_id = add(client, ["a", "b", "c"])

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    job = Job(batch_id, client=client, data=pd.DataFrame({"x": [1, 2, 3]}, index=["a", "b", "c"]))
    with pytest.raises(KeyboardInterrupt):
        job.wait(progress=False, sleep=interrupt)
    err = capsys.readouterr().err
    assert f'bf.attach("{batch_id}", df)' in err and "keeps running" in err
    batch = client.get_batch(batch_id)
    assert not batch.is_cancelled
    assert batch.num_pending == 3 and batch.num_cancelled == 0


def test_progress_false_is_silent_and_true_shows_counts(
    client: Client, batch_server: BatchServer, capsys: pytest.CaptureFixture[str]
) -> None:
    batch_id = add(client, ["a", "b"])
    batch_server.engine.step()
    Job(batch_id, client=client).wait(progress=False)
    assert capsys.readouterr().err == ""
    Job(batch_id, client=client, name="shown").wait(progress=True)
    err = capsys.readouterr().err
    assert "shown" in err and "ok=2 failed=0 cancelled=0" in err


def test_wait_returns_for_a_cancelled_batch(paused: BatchServer, client: Client) -> None:
    job = Job(add(client, ["a", "b"]), client=client)
    job.cancel()
    assert job.wait(progress=False).num_cancelled == 2


def test_repr_uses_the_last_batch_and_html_refreshes(paused: BatchServer, client: Client) -> None:
    job = Job(add(client, ["a", "b", "c"], name="reviews"), client=client, name="reviews")
    assert "not fetched yet" in repr(job)
    paused.engine.step(1)
    html = job._repr_html_()
    assert "<progress" in html and 'value="1" max="3"' in html and job.batch_id in html
    assert "pending=2" in repr(job) and "reviews" in repr(job)


def test_frame_ids_must_be_unique(paused: BatchServer, client: Client) -> None:
    df = pd.DataFrame({"id": ["a", "a", "b"], "x": [1, 2, 3]})
    batch_id = add(client, ["a", "b"])
    paused.engine.step()
    with pytest.raises(ValueError, match="unique"):
        attach(batch_id, df, id_column="id", client=client).results()


def test_attach_uses_the_manifest(paused: BatchServer, client: Client) -> None:
    df = pd.DataFrame({"uid": ["a", "b"], "x": ["one", "two"]})
    job = bf.submit(df, prompt="x", model=MODEL, id_column="uid", name="from-manifest",
                    client=client, progress=False)  # fmt: skip
    paused.engine.step()
    again = attach(job.batch_id, df, client=client)  # id_column and spec from the manifest
    assert again.name == "from-manifest" and again.spec == job.spec
    out = again.results()
    assert out["content"].tolist() == ["one", "two"]
    assert bf.attach is attach
    by_name = attach("from-manifest", df, client=client)
    assert by_name.batch_ids == job.batch_ids


def test_wait_returns_for_a_batch_with_nothing_to_wait_for(client: Client) -> None:
    # issue 9 item 6: "0 of 0 pending" spun forever
    empty = client.create_batch("empty").batch_id
    clock = FakeClock()
    job = Job(empty, client=client)
    batch = job.wait(timeout=60, progress=False, sleep=clock.sleep, clock=clock)
    assert batch.num_requests == 0 and clock.sleeps == []


def test_a_job_that_made_its_client_closes_it_when_dropped(
    loopback_server: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 13: a Job that created its own client left "ResourceWarning: unclosed socket"
    import gc
    import warnings

    monkeypatch.setenv("XAI_API_KEY", "k")
    monkeypatch.setenv("XAI_BASE_URL", loopback_server.base_url)  # type: ignore[attr-defined]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        job = bf.submit(pd.DataFrame({"q": ["a"]}), prompt="q", model=MODEL, progress=False)
        job.wait(progress=False, poll=PollPolicy(initial=0.01))
        batch_id = job.batch_id
        del job
        gc.collect()
    assert not [w for w in seen if issubclass(w.category, ResourceWarning)]
    with bf.attach(batch_id) as attached:
        assert attached.results()["content"].tolist() == ["a"]
    assert attached.client._http.is_closed


def test_retry_name() -> None:
    assert retry_name("x") == "x-retry-1"
    assert retry_name("x-retry-1") == "x-retry-2"
    assert retry_name("x-retry-9-retry-1") == "x-retry-9-retry-2"


def test_retry_failed_needs_a_frame_and_failures(paused: BatchServer, client: Client) -> None:
    batch_id = add(client, ["a"])
    paused.engine.step()
    with pytest.raises(ValueError, match="attached without"):
        attach(batch_id, client=client).retry_failed()
    job = Job(
        batch_id,
        client=client,
        data=pd.DataFrame({"p": ["x"]}, index=["a"]),
        spec=RequestSpec.build(prompt="p", model=MODEL),
    )
    with pytest.raises(ValueError, match="no failed rows"):
        job.retry_failed()


def test_retry_failed_resubmits_only_failed_rows_and_returns_every_row(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHFRAME_HOME", os.fspath(tmp_path))  # type: ignore[arg-type]
    df = pd.DataFrame(
        {"prompt": [f"question {i}" for i in range(24)]},
        index=[f"q{i:02d}" for i in range(23, -1, -1)],
    )
    with (
        BatchServer(fail_rate=0.5, seed=4) as server,
        Client(
            api_key="test-key", base_url="http://localhost/v1", transport=server.transport()
        ) as client,
    ):
        job = bf.submit(
            df, prompt="prompt", model=MODEL, name="quiz", client=client, progress=False
        )
        job.wait(progress=False, poll=PollPolicy(initial=0.01))
        first = job.results()
        failed = first.index[first["state"] == "failed"]
        assert 0 < len(failed) < len(df)
        server.faults.fail_rate = 0.0
        retry = job.retry_failed(temperature=0.0)
        assert retry.name == "quiz-retry-1" and retry.batch_id != job.batch_id
        retry.wait(progress=False, poll=PollPolicy(initial=0.01))
        again = retry.results()
        # From another session: the manifest gives the settings; the same retry reattaches.
        rerun = attach(job.batch_id, df, client=client).retry_failed(temperature=0.0)
        assert rerun.batch_id == retry.batch_id
    # issue 13 item 10: every row of the first input, in its order, the failed ones answered
    assert list(again.index) == list(df.index)
    assert (again["batch_request_id"] == pd.Series(df.index, index=df.index)).all()
    assert (again["state"] == "succeeded").all()
    assert (again["content"] == df["prompt"]).all()
    kept = first.index[first["state"] == "succeeded"]
    pd.testing.assert_frame_equal(again.loc[kept], first.loc[kept])  # cost, origin, ... as was
    assert retry.input.source is not None and retry.input.source.num_rows == len(failed)


def test_cost_sums_the_finished_rows(paused: BatchServer, client: Client) -> None:
    job = Job(add(client, ["a", "b", "c", "d"]), client=client)
    paused.engine.step(3)
    summary = job.cost()
    assert summary.succeeded == 3 and summary.failed == 0
    assert summary.pending == 1 and summary.rows == 4
    assert summary.total_tokens > 0 and summary.cost_usd > 0


def test_wait_works_inside_a_running_event_loop(batch_server: BatchServer, client: Client) -> None:
    import asyncio

    job = Job(add(client, ["a", "b"]), client=client)

    async def notebook_cell() -> int:  # Jupyter runs cells inside a running loop
        return job.wait(progress=False, poll=PollPolicy(initial=0.01)).num_success

    assert asyncio.run(notebook_cell()) == 2


def test_attach_after_a_restart_still_knows_the_skipped_rows(client: Client) -> None:
    """A new process has only the frame and the batch ID: skipped rows come from the manifest."""
    df = pd.DataFrame({"text": ["a", None, "c"]}, index=["r1", "r2", "r3"])
    job = bf.submit(df, prompt="text", model=MODEL, on_null="skip", client=client, progress=False)
    job.wait(progress=False, sleep=lambda s: None)
    again = attach(job.batch_id, df, client=client)  # as after a kernel restart
    out = again.results()
    assert out["state"].tolist() == ["succeeded", "skipped", "succeeded"]
    assert out["content"].tolist()[::2] == ["a", "c"]
