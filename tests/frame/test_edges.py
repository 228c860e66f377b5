"""Issue 13 items 1, 7, 8 and 11: hints in the caller's terms, format errors, parameter and
model checks, frames refused before anything is sent."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator

import httpx
import orjson
import pandas as pd
import pyarrow as pa
import pytest

import batchframe as bf
from batchframe._hints import CLI, PYTHON, hint_style, message_of, render
from batchframe.client import Client
from batchframe.errors import NotFinishedError, WaitTimeoutError
from batchframe.frame.spec import CHAT_COMPLETION_FIELDS
from batchframe.server.app import BatchServer

MODEL = "grok-4.3"
DF = pd.DataFrame({"q": ["a", "b"]}, index=["r1", "r2"])


# -- item 1: one message, two wordings ---------------------------------------------------------


def test_an_input_error_reads_as_python_and_renders_as_flags() -> None:
    with pytest.raises(ValueError) as caught:
        bf.to_requests(pd.DataFrame({"q": ["a", None]}), prompt="q", model=MODEL)
    exc = caught.value
    assert type(exc) is ValueError and "on_null='skip'" in str(exc)  # a plain ValueError
    assert "--on-null skip" in message_of(exc, CLI) and "on_null=" not in message_of(exc, CLI)
    copy = pickle.loads(pickle.dumps(exc))  # it travels (multiprocessing, joblib) whole
    assert str(copy) == str(exc) and message_of(copy, CLI) == message_of(exc, CLI)
    with hint_style(CLI):  # inside the command line, the current style is the CLI's
        assert render(exc.args[0]) == message_of(exc, CLI)
    assert render(exc.args[0]) == message_of(exc, PYTHON) == str(exc)


@pytest.fixture
def paused() -> Iterator[BatchServer]:
    server = BatchServer(paused=True)
    yield server
    server.close()


@pytest.fixture
def on_paused(paused: BatchServer) -> Iterator[Client]:
    with Client(api_key="k", base_url="http://localhost/v1", transport=paused.transport()) as c:
        yield c


def test_wait_results_and_ctrl_c_hints_in_both_wordings(
    on_paused: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    job = bf.submit(DF, prompt="q", model=MODEL, client=on_paused, progress=False)
    with pytest.raises(NotFinishedError) as early:
        job.results()
    assert "job.wait()" in str(early.value) and "partial=True" in str(early.value)
    cli = message_of(early.value, CLI)
    assert "batchframe wait" in cli and "--partial" in cli and "()" not in cli

    with pytest.raises(WaitTimeoutError) as late:
        job.wait(timeout=0, progress=False)
    cli = message_of(late.value, CLI)
    assert f"batchframe results {job.batch_id} --partial" in cli and ".batch" not in cli

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    for style, expected, absent in (
        (PYTHON, "bf.attach(", "batchframe wait"),
        (CLI, "batchframe wait", "bf."),
    ):
        with hint_style(style), pytest.raises(KeyboardInterrupt):
            job.wait(progress=False, sleep=interrupt)
        err = capsys.readouterr().err
        assert expected in err and absent not in err, err


# -- item 7: format errors name the field as written and the row -------------------------------


def test_a_format_error_names_the_field_as_written_and_the_first_bad_row() -> None:
    df = pd.DataFrame({"rank": ["1", "2", "x"]}, index=["a", "b", "c"])
    with pytest.raises(ValueError) as caught:
        bf.to_requests(df, template="Rank {rank:d}", model=MODEL)
    text = str(caught.value)
    assert "{rank:d}" in text and "{0" not in text and "'a'" in text and "'b'" not in text
    assert ".astype('int')" in text
    assert "--dtype rank=int" in message_of(caught.value, CLI)
    nested = pd.DataFrame({"x": [1.5, "t"], "w": [5, 5]})
    with pytest.raises(ValueError, match=r"\{x:\{w\}\.1f\}.*'t'.*row '1'"):
        bf.to_requests(nested, template="{x:{w}.1f}", model=MODEL)


# -- item 8: parameter names and the model ----------------------------------------------------


def test_a_misspelt_param_is_refused_with_a_suggestion() -> None:
    with pytest.raises(ValueError, match=r"'temprature'.*did you mean 'temperature'.*extra_body="):
        bf.to_requests(DF, prompt="q", model=MODEL, temprature=0)
    for name in sorted(CHAT_COMPLETION_FIELDS - {"stream", "stream_options", "messages", "model"}):
        bf.to_requests(DF, prompt="q", model=MODEL, **{name: None})  # every known field passes


def test_extra_body_is_merged_into_every_body_and_kept_in_the_manifest(client: Client) -> None:
    out = bf.to_requests(DF, prompt="q", model=MODEL, temperature=0, extra_body={"new_knob": [1]})
    assert all(body.endswith(',"temperature":0,"new_knob":[1]}}}') for body in out["body"])
    with pytest.raises(ValueError, match="once"):
        bf.to_requests(DF, prompt="q", model=MODEL, seed=1, extra_body={"seed": 2})
    with pytest.raises(ValueError, match="set by batchframe"):
        bf.to_requests(DF, prompt="q", model=MODEL, extra_body={"model": "x"})
    job = bf.submit(DF, prompt="q", model=MODEL, extra_body={"new_knob": 1}, client=client)
    job.wait(progress=False)
    again = bf.attach(job.name or "", DF, client=client)
    assert again.spec is not None and again.spec.extra_body == {"new_knob": 1}
    assert again.results()["state"].tolist() == ["succeeded"] * 2


def test_an_unknown_model_is_refused_before_any_batch_is_created(
    client: Client, batch_server: BatchServer
) -> None:
    with pytest.raises(ValueError) as caught:
        bf.submit(DF, prompt="q", model="grok-4.3x", client=client, progress=False)
    text = str(caught.value)
    assert "'grok-4.3x'" in text and "did you mean 'grok-4.3'" in text and "model=" in text
    assert "--model" in message_of(caught.value, CLI)
    assert client.list_batches().batches == []  # nothing was created
    bf.submit(DF, prompt="q", model="grok-4.3", client=client, progress=False)  # listed: fine


def test_a_server_taking_every_model_is_asked_about_the_one_unlisted() -> None:
    server = BatchServer(models=("grok-4.3", "*"))  # a model map's catch-all
    with Client(api_key="k", base_url="http://localhost/v1", transport=server.transport()) as c:
        job = bf.submit(DF, prompt="q", model="my-own-model", client=c, progress=False)
        assert job.wait(progress=False).num_requests == 2
    server.close()


def test_a_model_list_that_cannot_be_read_is_a_warning(
    batch_server: BatchServer, caplog: pytest.LogCaptureFixture
) -> None:
    inner = batch_server.transport()

    def old_server(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/language-models"):
            return httpx.Response(404, json={"code": "not found", "error": "no such route"})
        return inner.handle_request(request)

    transport = httpx.MockTransport(old_server)
    with Client(api_key="k", base_url="http://localhost/v1", transport=transport) as c:
        with caplog.at_level(logging.WARNING, logger="batchframe"):
            job = bf.submit(DF, prompt="q", model=MODEL, client=c, progress=False)
        assert job.wait(progress=False).num_success == 2  # submitted all the same
    assert "model list" in caplog.text and "'grok-4.3' is not checked" in caplog.text


# -- item 11: frames the output could not hold ------------------------------------------------


def test_duplicate_columns_and_an_unwritable_index_are_refused_before_sending(
    client: Client,
) -> None:
    dup = pd.DataFrame([["a", "b"]], columns=["q", "q"])
    with pytest.raises(ValueError, match="duplicate column names: 'q'"):
        bf.submit(dup, prompt="q", model=MODEL, client=client)
    levels = pd.MultiIndex.from_arrays([[1.5, pd.Timestamp("2024-01-01")], ["x", "y"]])
    mixed = pd.DataFrame({"q": ["a", "b"]}, index=levels)
    with pytest.raises(ValueError, match=r"index level 0 mixes kinds.*set_levels"):
        bf.submit(mixed, prompt="q", model=MODEL, client=client)
    assert client.list_batches().batches == []
    fixed = mixed.set_axis(mixed.index.set_levels(mixed.index.levels[0].astype(str), level=0))
    job = bf.submit(fixed, prompt="q", model=MODEL, client=client, progress=False)
    job.wait(progress=False)
    assert job.results()["state"].tolist() == ["succeeded"] * 2


# -- found while checking item 2: cancel after the end, then the same submit ------------------


def test_the_same_submit_reattaches_to_a_finished_batch_cancelled_afterwards(
    client: Client,
) -> None:
    job = bf.submit(DF, prompt="q", model=MODEL, client=client, progress=False)
    job.wait(progress=False)
    assert job.cancel().num_success == 2  # nothing was pending; the batch is marked cancelled
    again = bf.submit(DF, prompt="q", model=MODEL, client=client, progress=False)
    assert again.batch_id == job.batch_id  # it used to refuse: "was cancelled ... new name="
    assert again.results()["state"].tolist() == ["succeeded"] * 2


# -- item 15 (checked): a repeated page token is a PaginationError everywhere -----------------


def test_a_repeated_page_token_is_a_pagination_error_in_every_pager(
    batch_server: BatchServer,
) -> None:
    inner = batch_server.transport()

    def looping(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("pagination_token") == "again":  # the first page, again
            url = request.url.copy_remove_param("pagination_token")
            request = httpx.Request(request.method, url, headers=request.headers)
        response = inner.handle_request(request)
        if request.method != "GET" or not request.url.path.endswith(("/batches", "/results")):
            return response
        body = response.read()
        page = orjson.loads(body)
        page["pagination_token"] = "again"  # a server that never ends its pages
        return httpx.Response(response.status_code, content=orjson.dumps(page))

    with Client(api_key="k", base_url="http://localhost/v1", transport=inner) as plain:
        job = bf.submit(DF, prompt="q", model=MODEL, client=plain, progress=False)
        job.wait(progress=False)
    transport = httpx.MockTransport(looping)
    with Client(api_key="k", base_url="http://localhost/v1", transport=transport) as c:
        with pytest.raises(bf.PaginationError):
            list(c.iter_batches())
        with pytest.raises(bf.PaginationError):
            bf.attach(job.batch_id, client=c).results()


def test_an_arrow_table_with_duplicate_names_is_refused_clearly() -> None:
    table = pa.table([pa.array(["a"]), pa.array(["b"])], names=["q", "q"])
    with pytest.raises(ValueError, match=r"duplicate column names: 'q'.*rename_columns"):
        bf.to_requests(table, prompt="q", model=MODEL)


# -- item 14 (checked): an upload the server refuses for good does not say "rerun" alone ------


def test_an_upload_refused_for_good_says_a_rerun_as_is_fails_the_same_way() -> None:
    df = pd.DataFrame({"q": [f"question {i} " + "x" * 80 for i in range(40)]})
    with (
        BatchServer(max_body_mb=0.002) as server,  # a 2 KB body limit: every add call is a 413
        Client(api_key="k", base_url="http://localhost/v1", transport=server.transport()) as c,
        pytest.raises(bf.UploadError) as caught,
    ):
        bf.submit(df, prompt="q", model=MODEL, client=c, progress=False)
    text = str(caught.value)
    assert "413" in text and "fails the same way" in text and "Rerun the same submit" in text


def test_a_manifest_written_before_names_were_checked_still_reads() -> None:
    from batchframe.frame.spec import RequestSpec

    old = RequestSpec.build(prompt="q", model=MODEL).to_json()
    assert old is not None
    old["params"] = {"temprature": 0}  # what an older batchframe let through and recorded
    spec = RequestSpec.from_json(old)
    assert spec.params == {"temprature": 0}  # attach and results still work
    with pytest.raises(ValueError, match="temprature"):
        spec.replace(max_tokens=5)  # a retry sends new requests: checked again
    fixed = spec.replace(temprature=None, temperature=0)  # None: not sent, so not checked
    assert b"temprature" not in fixed.params_json
