"""results(): the join onto the input frame, partial reads, failures, cancel, structured output.

Everything runs against the real local server in-process; the engine is paused so each test
decides exactly which requests are processed.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pytest
from pydantic import BaseModel

import batchframe as bf
from batchframe._hints import CLI, message_of
from batchframe.client import Client
from batchframe.errors import IncompleteResultsError, JoinError
from batchframe.frame.attach import attach
from batchframe.frame.decode import RESULT_COLUMNS, RESULT_SCHEMA
from batchframe.frame.job import Job
from batchframe.frame.join import Rows, first_of_each, join_rows
from batchframe.frame.results import UNSURE, peek_token, prefetch_pages
from batchframe.frame.spec import RequestSpec
from batchframe.server.app import BatchServer

MODEL = "grok-4.3"
TEXT_COLUMNS = ["batch_request_id", "state", "content", "reasoning_content", "finish_reason"]
INT_COLUMNS = [
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "cached_tokens",
    "total_tokens",
]


def item(rid: str, text: str, **body: Any) -> dict[str, Any]:
    request = {"model": MODEL, "messages": [{"role": "user", "content": text}], **body}
    return {"batch_request_id": rid, "batch_request": {"chat_get_completion": request}}


def add_frame(client: Client, df: pd.DataFrame, name: str = "t", **body: Any) -> str:
    """Create a batch and add one request per row (ID = index label), prompt = df.prompt."""
    batch = client.create_batch(name)
    items = [item(str(i), t, **body) for i, t in zip(df.index, df["prompt"], strict=True)]
    client.add_requests(batch.batch_id, items)
    return batch.batch_id


@pytest.fixture
def paused(batch_server: BatchServer) -> BatchServer:
    batch_server.engine.pause()
    return batch_server


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    labels = [f"row-{i:03d}" for i in range(40)]
    texts = [f"Bonjour {i}: café, 日本語, emoji 🙂, «quote» #{i}" for i in range(40)]
    df = pd.DataFrame({"prompt": texts, "n": np.arange(40)}, index=labels)
    df.index.name = "key"
    return df.iloc[rng.permutation(40)]


def check_result_dtypes(out: pd.DataFrame) -> None:
    for column in [*TEXT_COLUMNS, "model", "error"]:
        assert out[column].dtype == "string", column
    for column in INT_COLUMNS:
        assert out[column].dtype == "Int64", column
    assert out["cost_usd"].dtype == "Float64"


def test_results_keep_the_frame_order_and_each_row_gets_its_own_answer(
    paused: BatchServer, client: Client, frame: pd.DataFrame
) -> None:
    batch_id = add_frame(client, frame)
    paused.engine.step()
    out = attach(batch_id, frame, client=client).results()
    pd.testing.assert_index_equal(out.index, frame.index)
    assert list(out.columns) == [*frame.columns, *RESULT_COLUMNS]
    pd.testing.assert_frame_equal(out[list(frame.columns)], frame)
    assert (out["batch_request_id"] == pd.Series(frame.index, index=frame.index)).all()
    assert (out["content"] == out["prompt"]).all()  # the simulated model echoes the prompt
    assert (out["state"] == "succeeded").all()
    assert out["error"].isna().all()
    assert (out["total_tokens"] > 0).all()
    check_result_dtypes(out)


def test_results_by_id_column(paused: BatchServer, client: Client) -> None:
    df = pd.DataFrame({"uid": ["b", "a", "c"], "prompt": ["two", "one", "three"]})
    batch = client.create_batch("ids")
    client.add_requests(
        batch.batch_id, [item(u, p) for u, p in zip(df.uid, df.prompt, strict=True)]
    )
    paused.engine.step()
    out = attach(batch.batch_id, df, id_column="uid", client=client).results()
    assert out["content"].tolist() == ["two", "one", "three"]
    assert out["batch_request_id"].tolist() == ["b", "a", "c"]


def test_unfinished_batch_needs_partial(
    paused: BatchServer, client: Client, frame: pd.DataFrame
) -> None:
    batch_id = add_frame(client, frame)
    paused.engine.step(15)
    job = attach(batch_id, frame, client=client)
    with pytest.raises(bf.NotFinishedError, match=r"wait\(\).*partial=True"):
        job.results()
    out = job.results(partial=True)
    pd.testing.assert_index_equal(out.index, frame.index)
    done = out["state"] == "succeeded"
    assert done.sum() == 15
    assert (out.loc[~done, "state"] == "pending").all()
    assert out.loc[~done, "content"].isna().all()
    assert out.loc[~done, "prompt_tokens"].isna().all()
    assert (out.loc[done, "content"] == out.loc[done, "prompt"]).all()
    assert out["batch_request_id"].notna().all()
    check_result_dtypes(out)


def test_failed_rows_are_data(client: Client) -> None:
    with BatchServer(fail_rate=0.5, seed=11) as server:
        server.engine.pause()
        with Client(
            api_key="test-key", base_url="http://localhost/v1", transport=server.transport()
        ) as failing:
            df = pd.DataFrame({"prompt": [f"p{i}" for i in range(30)]})
            batch_id = add_frame(failing, df)
            server.engine.step()
            out = attach(batch_id, df, client=failing).results()
    failed = out["state"] == "failed"
    assert 0 < failed.sum() < len(df)
    assert out.loc[failed, "error"].str.len().gt(0).all()
    assert out.loc[failed, "content"].isna().all()
    assert out.loc[failed, "total_tokens"].isna().all()
    assert out.loc[failed, "cost_usd"].isna().all()
    assert (out.loc[~failed, "content"] == out.loc[~failed, "prompt"]).all()
    assert out.loc[~failed, "error"].isna().all()


def test_cancel_turns_pending_rows_into_cancelled(
    paused: BatchServer, client: Client, frame: pd.DataFrame
) -> None:
    batch_id = add_frame(client, frame)
    paused.engine.step(10)
    job = attach(batch_id, frame, client=client)
    batch = job.cancel()
    assert batch.is_cancelled
    out = job.results()  # nothing is pending after a cancel
    cancelled = out["state"] == "cancelled"
    assert cancelled.sum() == 30
    assert (out.loc[cancelled, "error"] == "Batch cancelled").all()
    assert (out.loc[~cancelled, "state"] == "succeeded").all()


def test_skipped_rows_and_rows_never_sent(paused: BatchServer, client: Client) -> None:
    df = pd.DataFrame({"prompt": ["a", None, "c", "d"]}, index=["w", "x", "y", "z"])
    batch = client.create_batch("skips")
    client.add_requests(batch.batch_id, [item("w", "a"), item("y", "c")])  # "z" never sent
    paused.engine.step()
    spec = RequestSpec.build(prompt="prompt", model=MODEL, on_null="skip")
    out = Job(batch.batch_id, client=client, data=df, spec=spec).results()
    assert out["state"].tolist()[:3] == ["succeeded", "skipped", "succeeded"]
    assert out.loc["z", "state"] == "not_sent"  # never reached the batch
    assert pd.isna(out.loc["z", "content"])
    assert out["batch_request_id"].tolist() == ["w", "x", "y", "z"]


def test_attach_by_id_alone_returns_result_columns_by_id(
    paused: BatchServer, client: Client, frame: pd.DataFrame
) -> None:
    batch_id = add_frame(client, frame)
    paused.engine.step(12)
    job = attach(batch_id, client=client)
    out = job.results(partial=True)
    assert list(out.columns) == list(RESULT_COLUMNS)
    assert out["batch_request_id"].tolist() == sorted(frame.index)
    assert (out["state"] == "succeeded").sum() == 12
    assert (out["state"] == "pending").sum() == 28
    paused.engine.step()
    done = job.results()
    assert len(done) == 40 and (done["state"] == "succeeded").all()
    assert done["batch_request_id"].is_monotonic_increasing
    check_result_dtypes(done)


def test_many_pages_join_in_frame_order(paused: BatchServer, client: Client) -> None:
    n = 2300  # three result pages of 1000
    order = np.random.default_rng(5).permutation(n)
    df = pd.DataFrame({"prompt": [f"text {i}" for i in order]}, index=[f"id{i}" for i in order])
    batch_id = add_frame(client, df)
    paused.engine.step()
    out = attach(batch_id, df, client=client).results()
    assert (out["content"] == df["prompt"]).all()
    assert out.index.equals(df.index)


class Review(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    score: int


def test_structured_output_columns_and_parse_error(paused: BatchServer, client: Client) -> None:
    schema = {"name": "Review", "schema": Review.model_json_schema(), "strict": True}
    fmt = {"type": "json_schema", "json_schema": schema}
    df = pd.DataFrame({"prompt": ["great", "awful", "not json"]}, index=["a", "b", "c"])
    batch = client.create_batch("structured")
    client.add_requests(
        batch.batch_id,
        [
            item("a", "great", response_format=fmt),
            item("b", "awful", response_format=fmt),
            item("c", "not json"),
        ],
    )
    paused.engine.step()
    out = attach(batch.batch_id, df, client=client, response_model=Review).results()
    assert list(out.columns)[-3:] == ["label", "score", "parse_error"]
    assert out["score"].dtype == "Int64"
    assert set(out.loc[["a", "b"], "label"]) <= {"positive", "negative", "neutral"}
    assert out.loc[["a", "b"], "parse_error"].isna().all()
    assert isinstance(out.loc["c", "parse_error"], str)
    assert out.loc["c", "content"] == "not json"  # the content is kept
    assert pd.isna(out.loc["c", "score"])


# -- the columnar core, without HTTP ---------------------------------------------------------


def test_peek_token_reads_only_the_last_top_level_member() -> None:
    assert peek_token(b'{"results": [], "pagination_token": "a\\"b"}') == 'a"b'
    assert peek_token(b'{"results": [], "pagination_token": ""}\n') is None
    assert peek_token(b'{"pagination_token": "x", "results": []}') is UNSURE
    tricky = b'{"results": [{"c": "\\"pagination_token\\": \\"z\\"}"}]}'
    assert peek_token(tricky) is UNSURE


def pages_of(tokens: list[str | None], first_key: bool = False) -> dict[str | None, bytes]:
    """Raw pages chained by ``tokens``; ``first_key`` puts the token first (peek can't read it)."""
    pages: dict[str | None, bytes] = {}
    current: str | None = None
    for n, nxt in enumerate(tokens):
        page = {"pagination_token": nxt, "v": n} if first_key else {"v": n, "pagination_token": nxt}
        pages[current] = orjson.dumps(page)
        current = nxt
    return pages


def decode_v(raw: bytes) -> tuple[int, str | None]:
    page = orjson.loads(raw)
    return page["v"], page["pagination_token"]


@pytest.mark.parametrize("first_key", [False, True])
def test_prefetch_pages_in_order(first_key: bool) -> None:
    pages = pages_of(["t1", "t2", "t3", None], first_key=first_key)
    assert list(prefetch_pages(pages.__getitem__, decode_v)) == [0, 1, 2, 3]


def test_prefetch_falls_back_when_the_peek_is_wrong() -> None:
    # The tail says "wrong" but the decoder (the authority) says "t1".
    pages = {
        None: b'{"v": 0, "pagination_token": "wrong"}',
        "t1": b'{"v": 1, "pagination_token": null}',
    }
    pages["wrong"] = b'{"v": 99, "pagination_token": null}'

    def decode(raw: bytes) -> tuple[int, str | None]:
        value, token = decode_v(raw)
        return value, ("t1" if token == "wrong" else token)

    assert list(prefetch_pages(pages.__getitem__, decode)) == [0, 1]


def test_prefetch_raises_fetch_errors_and_stops_on_close() -> None:
    def broken(token: str | None) -> bytes:
        if token == "t1":
            raise ConnectionError("boom")
        return b'{"v": 0, "pagination_token": "t1"}'

    pages = prefetch_pages(broken, decode_v)
    assert next(pages) == 0
    with pytest.raises(ConnectionError, match="boom"):
        next(pages)
    endless = prefetch_pages(
        lambda t: b'{"v": 0, "pagination_token": "' + str(int(t or 0) + 1).encode() + b'"}',
        decode_v,
    )
    assert next(endless) == 0
    endless.close()


def result_table(ids: list[str]) -> pa.Table:
    columns = {field.name: pa.nulls(len(ids), field.type) for field in RESULT_SCHEMA}
    columns["batch_request_id"] = pa.array(ids, pa.large_string())
    columns["state"] = pa.array(["succeeded"] * len(ids), pa.large_string())
    columns["content"] = pa.array([f"answer {i}" for i in range(len(ids))], pa.large_string())
    return pa.Table.from_pydict(columns, schema=RESULT_SCHEMA)


def test_duplicate_results_keep_the_first(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="batchframe"):
        table = first_of_each(result_table(["a", "b", "b", "c"]))
    assert table["batch_request_id"].to_pylist() == ["a", "b", "c"]
    assert table["content"].to_pylist() == ["answer 0", "answer 1", "answer 3"]
    assert "duplicate" in caplog.text


def test_a_result_for_no_row_is_a_join_error_never_dropped() -> None:
    rows = Rows(pa.chunked_array([pa.array(["a", "b"], pa.large_string())]))
    with pytest.raises(JoinError, match="zzz"):
        join_rows([result_table(["b", "zzz", "a"])], rows, None)
    joined, matched = join_rows([result_table(["b", "a"])], rows, None)
    assert joined.part(1, 2)["content"].to_pylist() == ["answer 0"]
    assert joined.whole()["content"].to_pylist() == ["answer 1", "answer 0"] and matched == 2
    twice, matched = join_rows([result_table(["b", "a", "b"])], rows, None)
    assert twice.whole()["content"].to_pylist() == ["answer 1", "answer 0"] and matched == 2


# -- issue 9 items 1, 2 and 6: joins are exact or they fail ----------------------------------


def test_a_frame_without_its_manifest_is_checked_against_the_server_ids(
    client: Client, tmp_path: Any
) -> None:
    # item 1: the batch used id_column="name"; attaching with row numbers joined some rows to
    # other rows' answers ("0", "58" are names too) and said "pending" for the rest
    names = ["0", "58", "ada", "bob", "cy"]
    df = pd.DataFrame({"name": names, "prompt": [f"about {n}" for n in names]}).sample(
        frac=1, random_state=2
    )
    job = bf.submit(df, prompt="prompt", model=MODEL, id_column="name", client=client,
                    progress=False)  # fmt: skip
    job.wait(progress=False, sleep=lambda s: None)
    elsewhere = tmp_path / "another-machine"
    wrong = attach(job.batch_id, df, client=client, manifest_dir=elsewhere)
    with pytest.raises(JoinError, match=r"id_column='name'") as info:
        wrong.results()
    assert "--id-column name" in message_of(info.value, CLI)  # the CLI says it as a flag
    with pytest.raises(JoinError):
        wrong.to_parquet(tmp_path / "out.parquet")
    right = attach(job.batch_id, df, id_column="name", client=client, manifest_dir=elsewhere)
    out = right.results()
    assert (out["content"] == out["prompt"]).all() and (out["state"] == "succeeded").all()


def test_pending_requests_of_other_ids_are_a_join_error_too(
    paused: BatchServer, client: Client, tmp_path: Any
) -> None:
    # item 1, before any result exists: the other rows said "pending" on a mis-joined batch
    df = pd.DataFrame({"name": ["ada", "bob"], "prompt": ["a", "b"]})
    job = bf.submit(df, prompt="prompt", model=MODEL, id_column="name", client=client,
                    progress=False)  # fmt: skip
    wrong = attach(job.batch_id, df, client=client, manifest_dir=tmp_path / "elsewhere")
    with pytest.raises(JoinError, match="id_column='name'"):
        wrong.results(partial=True)


def test_a_reordered_or_edited_frame_is_refused_by_its_fingerprint(client: Client) -> None:
    # item 2: the same rows in another order (default RangeIndex) swapped answers silently
    df = pd.DataFrame({"prompt": [f"question {i}" for i in range(30)]})
    job = bf.submit(df, prompt="prompt", model=MODEL, client=client, progress=False)
    job.wait(progress=False, sleep=lambda s: None)
    shuffled = df.sample(frac=1, random_state=1).reset_index(drop=True)
    edited = df.assign(prompt=df["prompt"].str.replace("question 7", "question seven"))
    for other in (shuffled, edited, df.iloc[:20]):
        with pytest.raises(JoinError, match="not the ones submitted"):
            attach(job.batch_id, other, client=client)
    out = attach(job.batch_id, df, client=client).results()
    assert (out["content"] == df["prompt"]).all()


def test_fewer_results_than_the_counters_say_is_an_error_after_a_re_read(
    tmp_path: Any,
) -> None:
    # item 6: missing results came back as "pending" on a finished batch, with no warning
    import sqlite3

    db = tmp_path / "server.sqlite"
    with (
        BatchServer(db=str(db)) as server,
        Client(api_key="k", base_url="http://localhost/v1", transport=server.transport()) as c,
    ):
        df = pd.DataFrame({"prompt": [f"p{i}" for i in range(20)]})
        job = bf.submit(df, prompt="prompt", model=MODEL, client=c, progress=False)
        job.wait(progress=False, sleep=lambda s: None)
        with sqlite3.connect(db) as conn:  # the server loses two result rows
            conn.execute("DELETE FROM results WHERE rid IN ('3', '11')")
        assert c.get_batch(job.batch_id).num_success == 20
        for partial in (False, True):
            with pytest.raises(IncompleteResultsError, match="18"):
                job.results(partial=partial)
        with pytest.raises(IncompleteResultsError):
            job.to_parquet(tmp_path / "out.parquet")
        assert not (tmp_path / "out.parquet").exists()
