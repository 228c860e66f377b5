"""Past one batch: shards of at most max_batch_requests, one batch each, read back as one job."""

from __future__ import annotations

import itertools
import json
import pathlib

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import batchframe as bf
from batchframe.client import Client
from batchframe.errors import ManifestConflictError
from batchframe.frame.attach import attach
from batchframe.frame.shards import iter_shards
from batchframe.frame.sources import as_source
from batchframe.frame.spec import RequestSpec
from batchframe.frame.upload import plan_chunks
from batchframe.server.app import BatchServer

MODEL = "grok-4.3"


def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"row {i}" for i in range(n)]}, index=[f"r{i}" for i in range(n)])


def test_shard_bounds_do_not_depend_on_how_the_input_was_read() -> None:
    spec = RequestSpec.build(prompt="q", model="grok-4.3", on_null="skip")
    values = [None if i % 4 == 1 else f"v{i}" for i in range(23)] + [None]
    df = pd.DataFrame({"q": values})
    cuts = {
        rows: [
            (s.first_row, s.stop_row, s.requests, s.fingerprint)
            for s in iter_shards(spec, as_source(df), 5, batch_rows=rows)
        ]
        for rows in (1, 3, 7, 100)
    }
    assert len({json.dumps(c) for c in cuts.values()}) == 1  # identical, fingerprints included
    shards = cuts[100]
    assert [s[2] for s in shards] == [5, 5, 5, 2]
    assert shards[0][0] == 0 and shards[-1][1] == 24  # the trailing skipped row: last shard
    assert all(a[1] == b[0] for a, b in itertools.pairwise(shards))


def test_a_big_job_becomes_named_shards_read_back_as_one(
    client: Client, tmp_path: pathlib.Path
) -> None:
    df = frame(25).sample(frac=1, random_state=3)
    job = bf.submit(df, prompt="text", model=MODEL, name="big", client=client, progress=False,
                    max_batch_requests=10)  # fmt: skip
    assert len(job.batch_ids) == 3 and job.batch_id == job.batch_ids[0]
    names = {b.batch_id: (b.name, b.num_requests) for b in client.iter_batches()}
    assert [names[b] for b in job.batch_ids] == [("big", 10), ("big#2", 10), ("big#3", 5)]
    batch = job.wait(progress=False, sleep=lambda s: None)
    assert batch.num_requests == 25 and batch.num_success == 25  # the shards summed
    out = job.results()
    assert out.index.equals(df.index) and (out["content"] == out["text"]).all()
    back = pd.read_parquet(job.to_parquet(tmp_path / "big.parquet"))
    pd.testing.assert_frame_equal(back, out)
    assert job.cost().succeeded == 25
    # From another machine (no manifest there): the shards are found by name on the server.
    elsewhere = attach("big", df, client=client, manifest_dir=tmp_path / "other")
    assert elsewhere.batch_ids == job.batch_ids
    assert (elsewhere.results()["content"] == df["text"]).all()
    assert attach(job.batch_ids[1], client=client).batch_ids == job.batch_ids  # via the manifest


def test_cancel_and_retry_cover_every_shard(tmp_path: pathlib.Path) -> None:
    with (
        BatchServer(fail_rate=0.4, seed=8) as server,
        Client(api_key="k", base_url="http://localhost/v1", transport=server.transport()) as c,
    ):
        df = frame(30)
        job = bf.submit(df, prompt="text", model=MODEL, name="flaky", client=c, progress=False,
                        max_batch_requests=12)  # fmt: skip
        job.wait(progress=False, sleep=lambda s: None)
        first = job.results()
        failed = first.index[first["state"] == "failed"]
        shards_hit = {int(i[1:]) // 12 for i in failed}
        assert len(shards_hit) >= 2  # failures in more than one shard
        server.faults.fail_rate = 0.0
        retry = job.retry_failed()
        retry.wait(progress=False, sleep=lambda s: None)
        again = retry.results()
        assert list(again.index) == list(df.index) and (again["state"] == "succeeded").all()
        assert (again["content"] == df["text"]).all()
        streamed = pd.read_parquet(retry.to_parquet(tmp_path / "merged.parquet"))
        pd.testing.assert_frame_equal(streamed, again, check_dtype=False)
        server.engine.pause()
        pending = bf.submit(frame(30).assign(text=lambda d: d.text + "!"), prompt="text",
                            model=MODEL, client=c, progress=False, max_batch_requests=12)  # fmt: skip
        cancelled = pending.cancel()
        assert cancelled.num_cancelled == 30 and cancelled.is_cancelled
        assert set(pending.results()["state"]) == {"cancelled"}


def test_a_stopped_multi_shard_submit_resumes_at_the_next_shard(
    batch_server: BatchServer, tmp_path: pathlib.Path
) -> None:
    df = frame(30)
    with Client(
        api_key="k", base_url="http://localhost/v1", transport=batch_server.transport()
    ) as c:
        first = bf.submit(df.iloc[:10], prompt="text", model=MODEL, name="stops", client=c,
                          progress=False, max_batch_requests=10)  # fmt: skip
        # The first run stopped after shard 1 (here: it only ever saw the first 10 rows).
        manifest_path = next((tmp_path / ".batchframe" / "manifests").glob("*.json"))
        data = json.loads(manifest_path.read_text())
        data["input_rows"] = None
        manifest_path.write_text(json.dumps(data))
        job = bf.submit(df, prompt="text", model=MODEL, name="stops", client=c, progress=False,
                        max_batch_requests=10)  # fmt: skip
        assert job.batch_ids[0] == first.batch_id and len(job.batch_ids) == 3
        assert sum(b.num_requests for b in c.iter_batches()) == 30
        with pytest.raises(ManifestConflictError, match="max_batch_requests"):
            bf.submit(df, prompt="text", model=MODEL, name="stops", client=c,
                      max_batch_requests=20)  # fmt: skip
        with pytest.raises(ManifestConflictError, match="shards"):
            bf.submit(frame(40), prompt="text", model=MODEL, name="stops", client=c,
                      max_batch_requests=10, progress=False)  # fmt: skip


def test_every_kind_comes_back_as_itself(client: Client, tmp_path: pathlib.Path) -> None:
    table = pa.table({"text": [f"t{i}" for i in range(12)]})
    for data, kind in ((table, pa.Table), (pl.from_arrow(table), pl.DataFrame)):
        job = bf.submit(data, prompt="text", model=MODEL, client=client, progress=False,
                        max_batch_requests=5)  # fmt: skip
        job.wait(progress=False, sleep=lambda s: None)
        out = job.results()
        assert isinstance(out, kind)
        content = out["content"].to_list() if kind is pl.DataFrame else out["content"].to_pylist()
        assert content == [f"t{i}" for i in range(12)]
    lazy = bf.submit(pl.from_arrow(table).lazy(), prompt="text", model=MODEL, client=client,  # type: ignore[union-attr]
                     progress=False, name="lazy")  # fmt: skip
    lazy.wait(progress=False, sleep=lambda s: None)
    assert isinstance(lazy.results(), pl.DataFrame)
    written = pq.read_table(lazy.to_parquet(tmp_path / "lazy.parquet"))
    assert written["content"].to_pylist() == [f"t{i}" for i in range(12)]


def test_a_reader_is_read_once_and_repeats_across_shards_are_refused(client: Client) -> None:
    table = pa.table(
        {"text": [f"t{i}" for i in range(10)], "key": [f"k{i % 7}" for i in range(10)]}
    )
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=3))
    with pytest.raises(ValueError, match=r"unique.*k0"):
        bf.submit(reader, prompt="text", model=MODEL, id_column="key", client=client,
                  progress=False, max_batch_requests=7)  # fmt: skip
    assert [b.num_requests for b in client.iter_batches()] == [7]  # the second shard never went
    fine = pa.RecordBatchReader.from_batches(table.schema, table.slice(0, 7).to_batches())
    job = bf.submit(fine, prompt="text", model=MODEL, id_column="key", client=client,
                    progress=False, max_batch_requests=4, name="reader")  # fmt: skip
    job.wait(progress=False, sleep=lambda s: None)
    out = job.results()
    assert isinstance(out, pa.Table)
    assert out["batch_request_id"].to_pylist() == [f"k{i}" for i in range(7)]


def test_the_default_chunks_leave_no_pacing_cliff() -> None:
    # issue 9 item 9: chunks capped at 10,000 rows made 300 add calls for 3M rows
    sizes = np.full(3_000_000, 230)  # 3M requests of 100-character prompts
    chunks = plan_chunks(sizes)
    assert len(chunks) <= 80  # inside the default budget of 100 add calls per 30 s
    body = max(b - a for a, b in chunks) * 231 + 21
    assert body < 25 * 1024 * 1024


def test_one_upload_bar_over_every_shard(
    client: Client, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BATCHFRAME_DISABLE_PROGRESS", raising=False)
    bf.submit(frame(30), prompt="text", model=MODEL, client=client, max_batch_requests=10,
              chunk_rows=5)  # fmt: skip
    err = capfd.readouterr().err
    assert "30/30" in err and "10/10" not in err


def test_a_parquet_file_bigger_than_a_shard_streams_through(
    client: Client, tmp_path: pathlib.Path
) -> None:
    for k in range(3):
        pq.write_table(
            pa.table({"prompt": [f"file {k} row {i}" for i in range(700)]}),
            tmp_path / f"part-{k}.parquet",
            row_group_size=100,
        )
    job = bf.submit(str(tmp_path / "part-*.parquet"), prompt="prompt", model=MODEL,
                    client=client, progress=False, max_batch_requests=500)  # fmt: skip
    assert len(job.batch_ids) == 5
    job.wait(progress=False, sleep=lambda s: None)
    out = job.results()
    assert isinstance(out, pd.DataFrame) and len(out) == 2100
    assert (out["content"] == out["prompt"]).all()
    assert out["batch_request_id"].tolist() == [str(i) for i in range(2100)]
