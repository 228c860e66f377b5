"""A job is found again from anywhere and never billed twice (issue 9 items 3, 4, 5 and 7).

Real processes for the concurrency test, SIGKILL for the crash test, a second working directory,
``localhost`` for ``127.0.0.1``, a second machine (another manifest directory) with another frame.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import httpx
import orjson
import pandas as pd
import pytest

import batchframe as bf
from batchframe.client import Client
from batchframe.errors import ManifestConflictError
from batchframe.frame.manifest import ManifestStore
from batchframe.server import ServerHandle, serve
from batchframe.server.app import BatchServer

KEY = "xai-identity-test-key-0123456789"
URL = "http://localhost/v1"


def frame(n: int, prefix: str = "row") -> pd.DataFrame:
    return pd.DataFrame({"text": [f"{prefix} {i}" for i in range(n)]})


def batches_named(client: Client, name: str) -> list[bf.Batch]:
    return [b for b in client.iter_batches() if b.name == name]


@pytest.fixture
def home(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    monkeypatch.setenv("BATCHFRAME_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def live() -> Iterator[ServerHandle]:
    with serve(latency=0.02) as handle:
        yield handle


class Adds(httpx.BaseTransport):
    """The real server's transport, counting the requests sent in add calls."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner, self.sent = inner, 0

    def close(self) -> None:
        self.inner.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/requests"):
            self.sent += len(orjson.loads(request.read())["batch_requests"])
        return self.inner.handle_request(request)


# -- item 3: two processes at the same instant ------------------------------------------------

_SAME_TIME = textwrap.dedent(
    """
    import json, sys, httpx, orjson, pandas as pd, batchframe as bf

    class Adds(httpx.HTTPTransport):
        sent = 0
        def handle_request(self, request):
            if request.method == "POST" and request.url.path.endswith("/requests"):
                Adds.sent += len(orjson.loads(request.read())["batch_requests"])
            return super().handle_request(request)

    df = pd.DataFrame({"text": [f"row {i}" for i in range(300)]})
    client = bf.Client(api_key="k", base_url=sys.argv[1], transport=Adds())
    job = bf.submit(df, prompt="text", model="grok-4.3", name="same-instant", client=client,
                    chunk_rows=15, concurrency=1, progress=False)
    print(json.dumps({"batch_id": job.batch_id, "sent": Adds.sent}))
    """
)


def test_two_processes_submitting_at_once_make_one_batch(
    live: ServerHandle, home: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    env = {**os.environ, "BATCHFRAME_HOME": str(home), "BATCHFRAME_DISABLE_PROGRESS": "1"}
    script = tmp_path / "same_time.py"
    script.write_text(_SAME_TIME)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), live.base_url], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0]["batch_id"] == outs[1]["batch_id"]
    assert sorted(o["sent"] for o in outs) == [0, 300]  # the second waited, then added nothing
    with Client(api_key=KEY, base_url=live.base_url) as client:
        (batch,) = batches_named(client, "same-instant")
        assert batch.num_requests == 300


# -- item 4: another directory, localhost for 127.0.0.1, an edited manifest -------------------


def test_another_directory_and_another_spelling_of_the_server_reattach(
    live: ServerHandle, home: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    df = frame(40)
    port = live.base_url.split(":")[2].split("/")[0]
    for n, (folder, base_url) in enumerate(
        [
            ("first", f"http://127.0.0.1:{port}/v1"),
            ("second", f"http://localhost:{port}/v1/"),
            ("third", f"http://[::1]:{port}/v1") if _has_ipv6(port) else ("third", live.base_url),
        ]
    ):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        adds = Adds(httpx.HTTPTransport())
        with Client(api_key=KEY, base_url=base_url, transport=adds) as client:
            job = bf.submit(
                df, prompt="text", model="grok-4.3", name="where", client=client, progress=False
            )
            assert adds.sent == (40 if n == 0 else 0), folder
            assert len(batches_named(client, "where")) == 1
        assert not list((tmp_path / folder).iterdir())  # nothing in the working directory
    assert job.batch_id


def _has_ipv6(port: str) -> bool:
    try:
        httpx.get(f"http://[::1]:{port}/openapi.json", timeout=2)
    except httpx.TransportError:
        return False
    return True


@pytest.mark.parametrize("how", ["edited", "deleted"])
def test_an_edited_or_lost_manifest_still_finds_the_batch(
    batch_server: BatchServer, home: pathlib.Path, how: str
) -> None:
    df = frame(30)
    adds = Adds(batch_server.transport())
    with Client(api_key=KEY, base_url=URL, transport=adds) as client:
        first = bf.submit(
            df, prompt="text", model="grok-4.3", name="kept", client=client, progress=False
        )
        (path,) = (home / "manifests").glob("*.json")
        if how == "edited":
            data = json.loads(path.read_text())
            data["name"] = "something else"
            path.write_text(json.dumps(data))
        else:
            path.unlink()
        again = bf.submit(
            df, prompt="text", model="grok-4.3", name="kept", client=client, progress=False
        )
        assert again.batch_id == first.batch_id
        assert len(batches_named(client, "kept")) == 1
        assert client.get_batch(first.batch_id).num_requests == 30
        # The listed requests were re-sent once to prove they are this frame's (no new ones).
        assert adds.sent == 60


# -- item 5: a lost create reply, and another machine's batch of the same name ----------------


class LoseCreateReply(httpx.BaseTransport):
    """The create reaches the real server, then its reply is lost (once)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner, self.lost = inner, 0

    def close(self) -> None:
        self.inner.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/batches") and not self.lost:
            response.read()
            self.lost += 1
            raise httpx.ReadError("the reply was lost", request=request)
        return response


def test_a_lost_create_reply_never_adopts_another_machines_empty_batch(
    batch_server: BatchServer, tmp_path: pathlib.Path
) -> None:
    with Client(api_key=KEY, base_url=URL, transport=batch_server.transport()) as other:
        theirs = other.create_batch("shared-name")  # machine B created it, then stalled
    lossy = LoseCreateReply(batch_server.transport())
    with Client(api_key=KEY, base_url=URL, transport=lossy, sleep=lambda s: None) as client:
        job = bf.submit(frame(20), prompt="text", model="grok-4.3", name="shared-name",
                        client=client, progress=False, manifest_dir=tmp_path / "a")  # fmt: skip
        assert lossy.lost == 1
        assert job.batch_id != theirs.batch_id
        named = {b.batch_id: b.num_requests for b in batches_named(client, "shared-name")}
        assert named == {theirs.batch_id: 0, job.batch_id: 20}  # one create, B's batch untouched


@pytest.mark.parametrize("same_ids", [True, False])
def test_another_frame_under_a_name_the_server_knows_is_refused(
    batch_server: BatchServer, tmp_path: pathlib.Path, same_ids: bool
) -> None:
    with Client(api_key=KEY, base_url=URL, transport=batch_server.transport()) as client:
        first = bf.submit(frame(10), prompt="text", model="grok-4.3", name="taken", client=client,
                          progress=False, manifest_dir=tmp_path / "machine-a")  # fmt: skip
        other = frame(10, "other") if same_ids else frame(10).set_axis([f"x{i}" for i in range(10)])
        with pytest.raises(ManifestConflictError, match="taken"):
            bf.submit(other, prompt="text", model="grok-4.3", name="taken", client=client,
                      progress=False, manifest_dir=tmp_path / "machine-b")  # fmt: skip
        assert client.get_batch(first.batch_id).num_requests == 10  # never mixed in
        answers = {r.batch_request_id: r.content for r in client.iter_results(first.batch_id)}
        assert set(answers.values()) <= {f"row {i}" for i in range(10)}


def test_the_same_frame_from_another_machine_resumes_its_batch(
    batch_server: BatchServer, tmp_path: pathlib.Path
) -> None:
    df = frame(50)
    with Client(api_key=KEY, base_url=URL, transport=batch_server.transport()) as client:
        batch = client.create_batch("half-done")
        first = bf.to_requests(df.iloc[:20], prompt="text", model="grok-4.3")["body"]
        client.add_requests(batch.batch_id, [orjson.loads(b) for b in first])
        job = bf.submit(df, prompt="text", model="grok-4.3", name="half-done", client=client,
                        progress=False, manifest_dir=tmp_path / "machine-b")  # fmt: skip
        assert job.batch_id == batch.batch_id
        assert client.get_batch(batch.batch_id).num_requests == 50


# -- item 7: a crash between create and the manifest write; an unwritable directory ------------

_DIE_AFTER_CREATE = textwrap.dedent(
    """
    import os, signal, sys, httpx, pandas as pd, batchframe as bf

    class DieAfterCreate(httpx.HTTPTransport):
        def handle_request(self, request):
            response = super().handle_request(request)
            if request.method == "POST" and request.url.path.endswith("/batches"):
                response.read()
                os.kill(os.getpid(), signal.SIGKILL)  # the batch exists; its ID is not saved
            return response

    df = pd.DataFrame({"text": [f"row {i}" for i in range(25)]})
    client = bf.Client(api_key="k", base_url=sys.argv[1], transport=DieAfterCreate())
    bf.submit(df, prompt="text", model="grok-4.3", name="crashy", client=client, progress=False)
    """
)


def test_a_crash_between_create_and_manifest_write_is_adopted(
    live: ServerHandle, home: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    script = tmp_path / "die.py"
    script.write_text(_DIE_AFTER_CREATE)
    env = {**os.environ, "BATCHFRAME_HOME": str(home), "BATCHFRAME_DISABLE_PROGRESS": "1"}
    child = subprocess.run([sys.executable, str(script), live.base_url], env=env, timeout=60)
    assert child.returncode == -9
    with Client(api_key=KEY, base_url=live.base_url) as client:
        (orphan,) = batches_named(client, "crashy")
        assert orphan.num_requests == 0
        df = pd.DataFrame({"text": [f"row {i}" for i in range(25)]})
        job = bf.submit(
            df, prompt="text", model="grok-4.3", name="crashy", client=client, progress=False
        )
        assert job.batch_id == orphan.batch_id  # adopted, not a second batch
        assert [b.num_requests for b in batches_named(client, "crashy")] == [25]


def test_an_unwritable_manifest_directory_creates_no_batch(
    batch_server: BatchServer, tmp_path: pathlib.Path
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with Client(api_key=KEY, base_url=URL, transport=batch_server.transport()) as client:
        for _ in range(2):
            with pytest.raises(PermissionError, match="nothing was sent"):
                bf.submit(frame(5), prompt="text", model="grok-4.3", client=client,
                          manifest_dir=blocked / "manifests")  # fmt: skip
        assert client.list_batches().batches == []


def test_manifests_are_shared_by_every_working_directory(
    batch_server: BatchServer, home: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    with Client(api_key=KEY, base_url=URL, transport=batch_server.transport()) as client:
        job = bf.submit(frame(3), prompt="text", model="grok-4.3", client=client, progress=False)
    assert ManifestStore().find_batch(job.batch_id) is not None
    assert ManifestStore().directory == home / "manifests"


def test_an_empty_batch_of_a_default_name_is_adopted_and_of_a_chosen_name_left_alone(
    batch_server: BatchServer, tmp_path: pathlib.Path
) -> None:
    from batchframe.frame.identity import default_job_name
    from batchframe.frame.shards import iter_shards
    from batchframe.frame.sources import as_source
    from batchframe.frame.spec import RequestSpec

    df = frame(8)
    first = next(
        iter_shards(RequestSpec.build(prompt="text", model="grok-4.3"), as_source(df), 10**6)
    )
    with Client(api_key=KEY, base_url=URL, transport=batch_server.transport()) as client:
        # Another machine created the default-named batch and stopped before adding: the name
        # is bound to these very requests, so adopting it cannot mix two inputs.
        stalled = client.create_batch(default_job_name(first.fingerprint))
        job = bf.submit(df, prompt="text", model="grok-4.3", client=client, progress=False,
                        manifest_dir=tmp_path / "a")  # fmt: skip
        assert job.batch_id == stalled.batch_id
        mine = client.create_batch("chosen")
        chosen = bf.submit(df, prompt="text", model="grok-4.3", name="chosen", client=client,
                           progress=False, manifest_dir=tmp_path / "c")  # fmt: skip
        assert chosen.batch_id != mine.batch_id
        assert client.get_batch(mine.batch_id).num_requests == 0
