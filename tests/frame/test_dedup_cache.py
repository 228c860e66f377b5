"""Dedup and the result cache against the real local server: what it receives, what rows get."""

from __future__ import annotations

import os
import pathlib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import batchframe as bf
from batchframe.client import Client
from batchframe.server.app import BatchServer

MODEL = "grok-4.3"


def sent_ids(client: Client, job: bf.Job) -> list[str]:
    """Every request ID the server holds for the job's batches (what it received)."""
    return sorted(r.batch_request_id for b in job.batch_ids for r in client.iter_requests(b))


def reviews(n: int, start: int = 0) -> pd.DataFrame:
    ids = [f"r{i:04d}" for i in range(start, start + n)]
    return pd.DataFrame(
        {"text": [f"review number {i}" for i in range(start, start + n)]}, index=ids
    )


def run(df: pd.DataFrame, client: Client, **kw: object) -> tuple[bf.Job, pd.DataFrame]:
    job = bf.submit(df, prompt="text", model=MODEL, client=client, progress=False, **kw)
    job.wait(progress=False)
    return job, job.results()


@pytest.fixture
def other_client() -> Iterator[Client]:
    """A second, separate server at another address."""
    server = BatchServer()
    with Client(
        api_key="k", base_url="http://localhost:8001/v1", transport=server.transport()
    ) as c:
        yield c


def test_the_same_submit_twice_is_one_job_and_a_new_name_is_answered_by_the_cache(
    client: Client,
) -> None:
    first, _ = run(reviews(4), client)
    again, out = run(reviews(4), client)  # the default name binds the requests: reattached
    assert again.batch_ids == first.batch_ids and (out["origin"] == "batch").all()
    other, out = run(reviews(4), client, name="eval-2")
    assert other.batch_ids == () and (out["origin"] == "cache").all()


def test_a_rerun_with_10_percent_new_rows_sends_exactly_those(client: Client) -> None:
    first, out = run(reviews(50), client)
    assert (out["origin"] == "batch").all() and len(sent_ids(client, first)) == 50
    again = pd.concat([reviews(50), reviews(5, start=50)])
    job, out = run(again, client)
    assert sent_ids(client, job) == [f"r{i:04d}" for i in range(50, 55)]
    assert out["origin"].tolist() == ["cache"] * 50 + ["batch"] * 5
    assert (out["content"] == again["text"]).all() and (out["state"] == "succeeded").all()
    assert out.index.tolist() == again.index.tolist()
    assert out["batch_request_id"].tolist() == again.index.tolist()
    assert (out.loc[out["origin"] == "cache", "cost_usd"] == 0.0).all()
    cost = job.cost()
    assert cost.cached == 50 and cost.saved_usd > 0
    assert cost.cost_usd == pytest.approx(out.loc[out["origin"] == "batch", "cost_usd"].sum())


def test_duplicates_are_sent_once_and_each_row_gets_its_own_answer(client: Client) -> None:
    texts = ["alpha", "beta", "alpha", "gamma", "beta", "alpha"]
    df = pd.DataFrame({"text": texts}, index=[f"id{i}" for i in range(6)])
    job, out = run(df, client, cache=False)
    assert sent_ids(client, job) == ["id0", "id1", "id3"]
    assert out["content"].tolist() == texts
    assert out["batch_request_id"].tolist() == df.index.tolist()
    dup = "duplicate"
    assert out["origin"].tolist() == ["batch", "batch", dup, "batch", dup, dup]
    assert out.loc[out["origin"] == "duplicate", "cost_usd"].tolist() == [0.0, 0.0, 0.0]
    assert out.loc["id2", "prompt_tokens"] == out.loc["id0", "prompt_tokens"]
    cost = job.cost()
    assert cost.duplicates == 3 and cost.cost_usd == pytest.approx(out["cost_usd"].sum())
    assert cost.saved_usd == pytest.approx(out.loc[["id0", "id1", "id0"], "cost_usd"].sum())


def test_dedup_holds_across_shards_and_through_to_parquet(
    client: Client, tmp_path: pathlib.Path
) -> None:
    texts = ["a", "b", "c", "a", "d", "b", "a", "e", "c", "f"]
    table = pa.table({"text": texts})  # IDs are row numbers
    job = bf.submit(
        table, prompt="text", model=MODEL, client=client, progress=False, max_batch_requests=2,
        cache=False,
    )  # fmt: skip
    job.wait(progress=False)
    assert sent_ids(client, job) == ["0", "1", "2", "4", "7", "9"]
    out = job.results()
    assert out["content"].to_pylist() == texts
    assert out["batch_request_id"].to_pylist() == [str(i) for i in range(10)]
    origins = ["batch"] * 3 + ["duplicate", "batch", "duplicate", "duplicate", "batch"]
    assert out["origin"].to_pylist() == [*origins, "duplicate", "batch"]
    path = job.to_parquet(tmp_path / "out.parquet")
    written = pq.read_table(path)
    assert written["content"].to_pylist() == texts
    assert written["origin"].to_pylist() == out["origin"].to_pylist()


def test_dedup_false_sends_every_row(client: Client) -> None:
    df = pd.DataFrame({"text": ["same"] * 4})
    job, out = run(df, client, dedup=False, cache=False)
    assert len(sent_ids(client, job)) == 4 and (out["origin"] == "batch").all()


def test_a_fully_cached_job_creates_no_batch_and_reads_back(client: Client) -> None:
    run(reviews(8), client)
    before = len(list(client.iter_batches()))
    job, out = run(reviews(8), client, name="all-cached")
    assert len(list(client.iter_batches())) == before and job.batch_ids == ()
    assert (out["origin"] == "cache").all() and (out["content"] == reviews(8)["text"]).all()
    again = bf.attach("all-cached", reviews(8), client=client)
    assert again.results()["origin"].tolist() == ["cache"] * 8
    rerun = bf.submit(reviews(8), prompt="text", model=MODEL, client=client, progress=False,
                      name="all-cached")  # fmt: skip
    assert rerun.batch_ids == () and len(list(client.iter_batches())) == before


def test_a_rerun_reattaches_and_sends_nothing_even_once_the_cache_holds_it(
    client: Client,
) -> None:
    df = pd.concat([reviews(6), reviews(6).set_axis([f"x{i}" for i in range(6)])])
    job, out = run(df, client, name="eval-v1")
    assert out["origin"].tolist() == ["batch"] * 6 + ["duplicate"] * 6
    sent = sent_ids(client, job)
    again = bf.submit(df, prompt="text", model=MODEL, client=client, progress=False, name="eval-v1")
    assert again.batch_ids == job.batch_ids and sent_ids(client, again) == sent
    assert again.results()["origin"].tolist() == out["origin"].tolist()  # the plan, not the cache
    attached = bf.attach("eval-v1", df, client=client)
    pd.testing.assert_frame_equal(attached.results(), out)


def test_cached_answers_never_cross_servers(client: Client, other_client: Client) -> None:
    run(reviews(5), client)
    job, out = run(reviews(5), other_client)
    assert len(sent_ids(other_client, job)) == 5 and (out["origin"] == "batch").all()


def test_cached_answers_never_cross_models_or_params(client: Client) -> None:
    run(reviews(5), client)
    job = bf.submit(reviews(5), prompt="text", model="grok-4.20-0309-non-reasoning",
                    client=client, progress=False)  # fmt: skip
    assert len(sent_ids(client, job)) == 5
    job, out = run(reviews(5), client, temperature=0.5)
    assert len(sent_ids(client, job)) == 5 and (out["origin"] == "batch").all()


def test_only_succeeded_results_are_cached(batch_server: BatchServer) -> None:
    failing = BatchServer(fail_rate=1.0)
    with Client(api_key="k", base_url="http://localhost/v1", transport=failing.transport()) as c:
        _, out = run(reviews(4), c)
        assert (out["state"] == "failed").all()
        assert bf.cache_info().entries == 0
    with Client(
        api_key="k", base_url="http://localhost/v1", transport=batch_server.transport()
    ) as c:
        job, out = run(reviews(4), c, name="second")
        assert len(sent_ids(c, job)) == 4 and bf.cache_info().entries == 4


def test_cache_false_and_a_cache_path(client: Client, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "mine.sqlite"
    run(reviews(3), client, cache=path)
    assert bf.cache_info(path).entries == 3 and bf.cache_info().entries == 0
    job, out = run(reviews(3), client, cache=path, name="second")
    assert (out["origin"] == "cache").all()
    job, out = run(reviews(3), client, cache=False, name="third")
    assert (out["origin"] == "batch").all() and len(sent_ids(client, job)) == 3
    assert bf.clear_cache(path) == 3 and bf.cache_info(path).entries == 0


def test_a_cache_that_cannot_be_opened_fails_before_anything_is_sent(
    client: Client, tmp_path: pathlib.Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="cannot be opened"):
        bf.submit(reviews(3), prompt="text", model=MODEL, client=client, cache=blocker / "c.db")
    assert list(client.iter_batches()) == []
    with pytest.raises(ValueError, match="cache must be"):
        bf.submit(reviews(3), prompt="text", model=MODEL, client=client, cache=3)


def test_a_corrupted_cache_is_set_aside_and_rebuilt(client: Client, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.sqlite"
    run(reviews(3), client, cache=path)
    path.write_bytes(b"this is not a database" * 200)
    with pytest.warns(RuntimeWarning, match="rebuilt empty"):
        job, out = run(reviews(3), client, cache=path, name="second")
    assert (out["origin"] == "batch").all() and len(sent_ids(client, job)) == 3
    assert (out["content"] == reviews(3)["text"]).all()
    assert list(tmp_path.glob("c.sqlite.corrupt-*")) and bf.cache_info(path).entries == 3
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_cleared_cache_row_says_so_instead_of_answering(client: Client) -> None:
    run(reviews(3), client)
    job = bf.submit(
        reviews(3), prompt="text", model=MODEL, client=client, progress=False, name="second"
    )
    bf.clear_cache()
    out = job.results()
    assert (out["state"] == "not_sent").all() and out["content"].isna().all()
    assert out["error"].str.contains("no longer holds it").all()


_WORKER = """
import sys, pyarrow as pa
from batchframe.frame.cache import ResultCache
from batchframe.frame.decode import RESULT_SCHEMA
cache = ResultCache(sys.argv[1]); me = int(sys.argv[2])
for round in range(20):
    keys = [bytes([me, round]) + bytes(14), bytes(16)]
    table = pa.table({f.name: pa.nulls(2, f.type) for f in RESULT_SCHEMA})
    table = table.set_column(1, "state", pa.array(["succeeded"] * 2, pa.large_string()))
    table = table.set_column(2, "content", pa.array([f"{me}-{round}", "shared"], pa.large_string()))
    cache.store("http://s/v1", keys, table)
    got, found = cache.fetch("http://s/v1", keys)
    assert found.to_pylist() == [True, True], found
    assert got["content"].to_pylist()[0] == f"{me}-{round}"
print("ok")
"""


def test_concurrent_processes_share_one_cache_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "shared.sqlite"
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(path), str(k)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for k in range(1, 5)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        assert out.strip() == b"ok"
    assert bf.cache_info(path).entries == 4 * 20 + 1
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_a_multi_shard_job_with_skipped_rows_fills_the_cache_row_by_row(client: Client) -> None:
    texts = ["a", None, "b", "c", None, "d", "e", "f", "g", None, "h"]
    df = pd.DataFrame({"text": texts}, index=[f"k{i}" for i in range(len(texts))])
    kw: dict[str, object] = {"on_null": "skip", "max_batch_requests": 3}
    first, out = run(df, client, **kw)
    assert len(first.batch_ids) == 3 and bf.cache_info().entries == 8
    assert out["state"].tolist().count("skipped") == 3
    again, out = run(df, client, name="again", **kw)
    assert again.batch_ids == ()
    sent = out["state"] != "skipped"
    assert (out.loc[sent, "origin"] == "cache").all()
    assert (out.loc[sent, "content"] == df.loc[sent, "text"]).all()
