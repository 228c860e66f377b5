"""``bf.submit`` against the real local server: chunks, bodies, reattach, resume, pacing."""

from __future__ import annotations

import logging
import os
import pathlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import orjson
import pandas as pd
import pytest
from pydantic import BaseModel

import batchframe as bf
from batchframe._hints import CLI, message_of
from batchframe.client import Client
from batchframe.errors import ManifestConflictError, UploadError
from batchframe.frame.encode import encode_requests
from batchframe.frame.manifest import Manifest, ManifestStore, ShardRecord
from batchframe.frame.upload import plan_chunks
from batchframe.server.app import BatchServer

URL = "http://localhost/v1"
KEY = "xai-TESTSECRETKEY0123456789"


class AddCounter(httpx.BaseTransport):
    """Wraps the real server transport: counts add calls, optionally fails after ``fail_after``."""

    def __init__(self, inner: httpx.BaseTransport, fail_after: int | None = None) -> None:
        self.inner = inner
        self.fail_after = fail_after
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        return len(self.bodies)

    @property
    def rows_sent(self) -> int:
        return sum(len(orjson.loads(b)["batch_requests"]) for b in self.bodies)

    def close(self) -> None:
        self.inner.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        is_add = request.method == "POST" and request.url.path.endswith("/requests")
        if is_add:
            with self._lock:
                if self.fail_after is not None and self.calls >= self.fail_after:
                    raise httpx.ConnectError("the kernel died", request=request)
                self.bodies.append(request.read())
        return self.inner.handle_request(request)


HOME = "home"  # BATCHFRAME_HOME, under each test's tmp_path


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BATCHFRAME_HOME", str(tmp_path / HOME))
    monkeypatch.delenv("BATCHFRAME_DISABLE_PROGRESS", raising=False)


def find_manifest(batch_id: str, directory: object = None) -> Manifest | None:
    return ManifestStore(directory).find_batch(batch_id)  # type: ignore[arg-type]


def shard_of(manifest: Manifest | None, index: int = 1) -> ShardRecord:
    assert manifest is not None
    record = manifest.shard(index)
    assert record is not None
    return record


def manifest_files() -> list[pathlib.Path]:
    folder = pathlib.Path(HOME) / "manifests"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


@pytest.fixture
def make_client(batch_server: BatchServer) -> Iterator[Callable[..., tuple[Client, AddCounter]]]:
    made: list[Client] = []

    def make(fail_after: int | None = None) -> tuple[Client, AddCounter]:
        counter = AddCounter(batch_server.transport(), fail_after)
        client = Client(api_key=KEY, base_url=URL, transport=counter, sleep=lambda s: None)
        made.append(client)
        return client, counter

    yield make
    for c in made:
        c.close()


def frame(n: int, prefix: str = "row") -> pd.DataFrame:
    return pd.DataFrame({"text": [f"{prefix} {i}: " + "x" * (i % 7) for i in range(n)]})


def batch_count(client: Client) -> int:
    return sum(1 for _ in client.iter_batches())


def listed_ids(client: Client, batch_id: str) -> list[str]:
    return [m.batch_request_id for m in client.iter_requests(batch_id)]


def test_submit_creates_one_batch_with_every_row(
    batch_server: BatchServer, make_client: Callable[..., tuple[Client, AddCounter]]
) -> None:
    client, counter = make_client()
    df = frame(30)
    batch_server.engine.pause()
    job = bf.submit(df, prompt="text", model="grok-4.3", name="t1", client=client, progress=False)
    assert isinstance(job, bf.Job)
    assert batch_count(client) == 1
    assert counter.calls == 1
    ids = listed_ids(client, job.batch_id)
    assert sorted(ids) == sorted(str(i) for i in range(30))
    assert client.get_batch(job.batch_id).num_pending == 30  # returned without waiting
    batch_server.engine.step()
    content = {r.batch_request_id: r.content for r in client.iter_results(job.batch_id)}
    assert content == {str(i): df["text"][i] for i in range(30)}
    manifest = find_manifest(job.batch_id)
    assert shard_of(manifest).upload_complete and shard_of(manifest).requests == 30
    assert manifest is not None and manifest.input_rows == 30


def test_chunking_by_rows(make_client: Callable[..., tuple[Client, AddCounter]]) -> None:
    client, counter = make_client()
    job = bf.submit(
        frame(25), prompt="text", model="grok-4.3", client=client, chunk_rows=10, progress=False
    )
    assert counter.calls == 3
    assert sorted(len(orjson.loads(b)["batch_requests"]) for b in counter.bodies) == [5, 10, 10]
    assert client.get_batch(job.batch_id).num_requests == 25


def test_chunking_by_bytes(make_client: Callable[..., tuple[Client, AddCounter]]) -> None:
    client, counter = make_client()
    df = frame(40)
    sizes = encode_requests(df, prompt="text", model="grok-4.3").item_sizes()
    limit = int(sizes.max()) * 6
    expected = plan_chunks(sizes, chunk_bytes=limit)
    job = bf.submit(
        df, prompt="text", model="grok-4.3", client=client, chunk_bytes=limit, progress=False
    )
    assert counter.calls == len(expected) > 1
    assert all(len(b) <= limit for b in counter.bodies)  # whole bodies, envelope included
    assert sorted(listed_ids(client, job.batch_id)) == sorted(str(i) for i in range(40))


def test_rerun_reattaches_without_a_new_batch(
    make_client: Callable[..., tuple[Client, AddCounter]],
) -> None:
    client, counter = make_client()
    df = frame(12)
    first = bf.submit(df, prompt="text", model="grok-4.3", client=client, progress=False)
    second = bf.submit(df, prompt="text", model="grok-4.3", client=client, progress=False)
    assert second.batch_id == first.batch_id  # auto name from the fingerprint matches
    assert batch_count(client) == 1
    assert counter.calls == 1  # upload complete and the count matches: nothing re-added
    named = bf.submit(df, prompt="text", model="grok-4.3", name="n", client=client, progress=False)
    again = bf.submit(df, prompt="text", model="grok-4.3", name="n", client=client, progress=False)
    assert named.batch_id == again.batch_id != first.batch_id
    assert batch_count(client) == 2


def test_changed_frame_under_same_name_conflicts(
    make_client: Callable[..., tuple[Client, AddCounter]],
) -> None:
    client, counter = make_client()
    bf.submit(frame(5), prompt="text", model="grok-4.3", name="same", client=client, progress=False)
    with pytest.raises(ManifestConflictError, match="name=") as info:
        bf.submit(frame(5, "changed"), prompt="text", model="grok-4.3", name="same", client=client)
    assert isinstance(info.value, ValueError)
    assert str(manifest_files()[0]) in str(info.value)
    with pytest.raises(ManifestConflictError):  # settings count too
        bf.submit(
            frame(5), prompt="text", model="grok-4.3", name="same", client=client, temperature=0.1
        )
    assert batch_count(client) == 1 and counter.calls == 1


@pytest.mark.parametrize("fail_after", [0, 2])
def test_interrupted_upload_resumes_without_duplicates(
    make_client: Callable[..., tuple[Client, AddCounter]], fail_after: int
) -> None:
    df = frame(50)
    dying, _dying_counter = make_client(fail_after=fail_after)
    with pytest.raises(UploadError) as info:
        bf.submit(df, prompt="text", model="grok-4.3", name="r", client=dying, chunk_rows=10,
                  concurrency=1, progress=False)  # fmt: skip
    batch_id = info.value.batch_id
    assert batch_id in str(info.value) and "Rerun" in str(info.value)
    record = shard_of(find_manifest(batch_id))
    assert not record.upload_complete
    assert record.rows_confirmed == 10 * fail_after == info.value.rows_done

    client, counter = make_client()
    job = bf.submit(df, prompt="text", model="grok-4.3", name="r", client=client, chunk_rows=10,
                    progress=False)  # fmt: skip
    assert job.batch_id == batch_id
    assert batch_count(client) == 1
    assert counter.rows_sent == 50 - 10 * fail_after  # only the missing rows were added
    ids = listed_ids(client, batch_id)
    assert len(ids) == len(set(ids)) == 50 == client.get_batch(batch_id).num_requests
    assert shard_of(find_manifest(batch_id)).upload_complete


def test_failed_chunk_waits_for_the_others_in_flight(
    make_client: Callable[..., tuple[Client, AddCounter]],
) -> None:
    dying, _counter = make_client(fail_after=3)
    with pytest.raises(UploadError) as info:
        bf.submit(frame(60), prompt="text", model="grok-4.3", client=dying, chunk_rows=10,
                  concurrency=4, progress=False)  # fmt: skip
    assert isinstance(info.value.__cause__, bf.APIConnectionError)
    assert info.value.rows_done == 30 == dying.get_batch(info.value.batch_id).num_requests


def test_bad_input_sends_nothing(make_client: Callable[..., tuple[Client, AddCounter]]) -> None:
    client, counter = make_client()
    df = pd.DataFrame({"text": ["a", None, "c"], "key": ["1", "1", "2"]})
    with pytest.raises(ValueError):
        bf.submit(df, prompt="missing", model="grok-4.3", client=client)
    with pytest.raises(ValueError):
        bf.submit(df, prompt="text", model="grok-4.3", client=client)  # a null prompt
    dup = pd.DataFrame({"text": ["a", "b", "c"], "key": ["1", "1", "2"]})
    with pytest.raises(ValueError, match="1"):
        bf.submit(dup, prompt="text", model="grok-4.3", id_column="key", client=client)
    with pytest.raises(ValueError, match="'#'"):
        bf.submit(df.dropna(), prompt="text", model="grok-4.3", name="job#2", client=client)
    for knobs in (
        {"chunk_rows": 0},
        {"chunk_bytes": 1.5},
        {"chunk_bytes": 26 * 1024 * 1024},
        {"max_batch_requests": 0},
        {"calls_per_30s": -1},
        {"concurrency": True},
    ):
        with pytest.raises(ValueError, match=next(iter(knobs))):
            bf.submit(df.dropna(), prompt="text", model="grok-4.3", client=client, **knobs)
    assert client.list_batches().batches == []
    assert counter.calls == 0
    assert manifest_files() == []


def test_manifest_never_holds_the_key(
    make_client: Callable[..., tuple[Client, AddCounter]],
) -> None:
    client, _ = make_client()
    bf.submit(frame(3), prompt="text", model="grok-4.3", client=client, progress=False)
    files = list((pathlib.Path(HOME) / "manifests").iterdir())
    assert len(manifest_files()) == 1 and not list(pathlib.Path().glob(".batchframe*"))
    text = "".join(f.read_text() for f in files)
    assert KEY not in text and "TESTSECRET" not in text and "Bearer" not in text
    assert "http://127.0.0.1/v1" in text  # the canonical server, for localhost


def test_progress_false_prints_nothing(
    make_client: Callable[..., tuple[Client, AddCounter]], capfd: pytest.CaptureFixture[str]
) -> None:
    client, _ = make_client()
    bf.submit(
        frame(30), prompt="text", model="grok-4.3", client=client, chunk_rows=5, progress=False
    )
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    bf.submit(frame(30, "b"), prompt="text", model="grok-4.3", client=client, chunk_rows=5)
    assert "upload" in capfd.readouterr().err  # the bar shows when asked for


def test_gone_or_cancelled_batch_says_how_to_start_fresh(
    make_client: Callable[..., tuple[Client, AddCounter]], batch_server: BatchServer
) -> None:
    client, _ = make_client()
    batch_server.engine.pause()  # the cancel cancels requests (a finished batch is still the job's)
    job = bf.submit(
        frame(4), prompt="text", model="grok-4.3", name="c", client=client, progress=False
    )
    client.cancel_batch(job.batch_id)
    with pytest.raises(ManifestConflictError, match="cancelled"):
        bf.submit(frame(4), prompt="text", model="grok-4.3", name="c", client=client)
    with (
        BatchServer() as fresh,
        Client(api_key=KEY, base_url=URL, transport=fresh.transport()) as other,
        pytest.raises(ManifestConflictError, match="no longer has"),
    ):
        bf.submit(frame(4), prompt="text", model="grok-4.3", name="c", client=other)


def test_manifest_dir_and_skipped_rows(
    tmp_path: pathlib.Path, make_client: Callable[..., tuple[Client, AddCounter]]
) -> None:
    client, _counter = make_client()
    df = pd.DataFrame({"text": ["a", None, "c"]}, index=[10, 20, 30])
    job = bf.submit(df, prompt="text", model="grok-4.3", on_null="skip", client=client,
                    manifest_dir=tmp_path / "m", progress=False)  # fmt: skip
    assert sorted(listed_ids(client, job.batch_id)) == ["10", "30"]
    assert find_manifest(job.batch_id, tmp_path / "m") is not None
    assert manifest_files() == []


def test_paced_upload_survives_429s_on_a_real_server() -> None:
    retry_waits: list[float] = []
    with bf.serve(add_calls_per_30s=2) as handle:

        def sleep(seconds: float) -> None:
            # The server asked us to wait (429 + Retry-After); rather than sit out its 30 s
            # window, lift the budget as the window passing would, and go on at once.
            retry_waits.append(seconds)
            httpx.post(
                f"{handle.url}/_control/faults", json={"add_calls_per_30s": None}
            ).raise_for_status()

        with Client(api_key=KEY, base_url=handle.base_url, sleep=sleep) as client:
            job = bf.submit(frame(40), prompt="text", model="grok-4.3", client=client, chunk_rows=8,
                            concurrency=2, progress=False)  # fmt: skip
            ids = listed_ids(client, job.batch_id)
            assert len(ids) == len(set(ids)) == 40 == client.get_batch(job.batch_id).num_requests
    assert retry_waits and min(retry_waits) >= 1  # Retry-After was honoured


def test_job_from_submit_joins_results_on_the_frame(
    make_client: Callable[..., tuple[Client, AddCounter]],
) -> None:
    client, _ = make_client()
    df = pd.DataFrame({"key": ["k1", "k2", "k3", "k4"], "text": ["one", None, "three", "four"]})
    job = bf.submit(df, prompt="text", model="grok-4.3", id_column="key", on_null="skip", client=client,
                    progress=False)  # fmt: skip
    job.wait(timeout=30, progress=False)
    out = job.results()
    assert list(out["batch_request_id"]) == ["k1", "k2", "k3", "k4"]
    assert list(out["state"]) == ["succeeded", "skipped", "succeeded", "succeeded"]
    assert out["content"][0] == "one" and out["content"][3] == "four"


def test_manifest_keeps_plain_settings_for_attach(
    make_client: Callable[..., tuple[Client, AddCounter]],
) -> None:
    client, _ = make_client()
    df = frame(3)
    job = bf.submit(df, prompt="text", model="grok-4.3", name="kw", client=client, progress=False,
                    temperature=0.3)  # fmt: skip
    manifest = find_manifest(job.batch_id)
    assert manifest is not None and manifest.spec is not None
    assert manifest.spec["prompt"] == "text"
    assert manifest.spec["params"] == {"temperature": 0.3}
    attached = bf.attach(job.batch_id, df, client=client)
    assert attached.batch_id == job.batch_id and attached.name == "kw"
    assert attached.spec == job.spec

    class Review(BaseModel):
        sentiment: str

    typed = bf.submit(df, prompt="text", model="grok-4.3", response_model=Review, client=client,
                      progress=False)  # fmt: skip
    manifest = find_manifest(typed.batch_id)
    assert manifest is not None and manifest.spec is not None  # the schema it sent, not the class
    assert manifest.spec["response_format"]["json_schema"]["name"] == "Review"
    again = bf.attach(typed.batch_id, df, client=client)
    assert again.spec is not None and again.spec.params_json == typed.spec.params_json  # type: ignore[union-attr]


_CHILD = """
import pandas as pd, batchframe as bf
df = pd.DataFrame({"text": [f"row {i}" for i in range(200)]})
bf.submit(df, prompt="text", model="grok-4.3", name="killed", chunk_rows=10, concurrency=1,
          progress=False)
"""


def test_a_killed_process_resumes_on_rerun(tmp_path: pathlib.Path) -> None:
    df = pd.DataFrame({"text": [f"row {i}" for i in range(200)]})
    with bf.serve(latency=0.05) as handle:
        env = {**os.environ, "XAI_API_KEY": KEY, "XAI_BASE_URL": handle.base_url}
        env["BATCHFRAME_HOME"] = str(tmp_path / HOME)
        child = subprocess.Popen([sys.executable, "-c", _CHILD], cwd=tmp_path, env=env)
        with Client(api_key=KEY, base_url=handle.base_url) as watcher:
            try:
                while child.poll() is None:  # kill -9 once a few chunks are in
                    batches = watcher.list_batches().batches
                    if batches and batches[0].num_requests >= 30:
                        child.kill()
                        break
                    time.sleep(0.01)
            finally:
                child.kill()
                child.wait()
            added_before = watcher.get_batch(batches[0].batch_id).num_requests
            assert 30 <= added_before < 200  # it died mid-upload
            httpx.post(f"{handle.url}/_control/faults", json={"latency": 0}).raise_for_status()
            counter = AddCounter(httpx.HTTPTransport())
            with Client(api_key=KEY, base_url=handle.base_url, transport=counter) as client:
                job = bf.submit(df, prompt="text", model="grok-4.3", name="killed", chunk_rows=10,
                                client=client, progress=False)  # fmt: skip
                assert job.batch_id == batches[0].batch_id
                assert batch_count(client) == 1
                ids = listed_ids(client, job.batch_id)
                assert (
                    len(ids) == len(set(ids)) == 200 == client.get_batch(job.batch_id).num_requests
                )
                assert counter.rows_sent == 200 - added_before


class RedirectAdds(httpx.BaseTransport):
    """A proxy that answers add calls with a redirect and never forwards them."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.redirected = 0

    def close(self) -> None:
        self.inner.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/requests"):
            self.redirected += 1
            return httpx.Response(307, headers={"location": "https://elsewhere.example/"})
        return self.inner.handle_request(request)


def test_an_upload_the_server_did_not_keep_is_never_complete(batch_server: BatchServer) -> None:
    # issue 9 item 6: a 3xx counted as success; the manifest said complete over 0 requests
    df = frame(20)
    proxy = RedirectAdds(batch_server.transport())
    with Client(api_key=KEY, base_url=URL, transport=proxy, sleep=lambda s: None) as client:
        with pytest.raises((UploadError, bf.APIError)) as info:
            bf.submit(
                df, prompt="text", model="grok-4.3", name="lost", client=client, progress=False
            )
        assert proxy.redirected >= 1
        (batch,) = client.list_batches().batches
        assert batch.num_requests == 0
        record = shard_of(find_manifest(batch.batch_id))
        assert not record.upload_complete
        assert "counts 0 of the 20" in str(info.value) or "307" in str(info.value)
    with Client(api_key=KEY, base_url=URL, transport=batch_server.transport()) as client:
        job = bf.submit(
            df, prompt="text", model="grok-4.3", name="lost", client=client, progress=False
        )
        assert job.batch_id == batch.batch_id
        assert client.get_batch(batch.batch_id).num_requests == 20


def test_after_an_interrupted_upload_results_and_retry_say_how_to_finish(
    make_client: Callable[..., tuple[Client, AddCounter]], caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 13 item 9: attach + results() quietly gave not_sent rows, retry_failed said "no
    failed rows"; both now say how to finish the upload, and resume_upload() does it."""
    df = frame(50)
    dying, _ = make_client(fail_after=2)
    with pytest.raises(UploadError):
        bf.submit(df, prompt="text", model="grok-4.3", name="cut", client=dying, chunk_rows=10,
                  concurrency=1, progress=False)  # fmt: skip
    client, counter = make_client()
    job = bf.attach("cut", df, client=client)
    job.wait(progress=False, sleep=lambda s: None)
    with caplog.at_level(logging.WARNING, logger="batchframe"):
        out = job.results()
    assert (out["state"] == "not_sent").sum() == 30
    assert "30 row(s) of job cut were never sent" in caplog.text
    assert "job.resume_upload()" in caplog.text and "rerun the same submit" in caplog.text
    with pytest.raises(ValueError, match="no failed rows to retry, but 30 row") as info:
        job.retry_failed()
    assert "batchframe submit" in message_of(info.value, CLI)
    assert "resume_upload" not in message_of(info.value, CLI)
    resumed = job.resume_upload()
    assert resumed.batch_ids == job.batch_ids and counter.rows_sent == 30
    resumed.wait(progress=False, sleep=lambda s: None)
    assert (resumed.results()["state"] == "succeeded").all()
    assert len(listed_ids(client, job.batch_id)) == 50
