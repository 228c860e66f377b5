"""The gRPC front: every BatchMgmt method, the same store as REST, the status codes, keys and
teams, faults and limits, cost breakdown, the tokenizer and model-list services."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import orjson
import pytest
from google.protobuf import empty_pb2
from grpc_helpers import AUTH, Fronts, chat_request, code_of, fronts
from xai_sdk.proto.v6 import (
    batch_pb2,
    chat_pb2,
    image_pb2,
    models_pb2,
    tokenize_pb2,
    video_pb2,
)

from batchframe.server.tokenizer import count_tokens

State = batch_pb2.BatchRequestMetadata.State


@pytest.fixture
def f() -> Iterator[Fronts]:
    with fronts() as both:
        yield both
        assert both.handle.server.internal_errors == 0


def create(f: Fronts, name: str = "g") -> batch_pb2.Batch:
    batch = f.call("CreateBatch", batch_pb2.CreateBatchRequest(name=name))
    assert isinstance(batch, batch_pb2.Batch)
    return batch


def add(f: Fronts, batch_id: str, *items: batch_pb2.BatchRequest) -> None:
    f.call(
        "AddBatchRequests",
        batch_pb2.AddBatchRequestsRequest(batch_id=batch_id, batch_requests=items),
    )


def raises(code: grpc.StatusCode, fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(grpc.RpcError) as info:
        fn(*args, **kwargs)
    assert code_of(info.value) == code, info.value
    return str(info.value.details())  # type: ignore[attr-defined]


def test_batch_lifecycle_over_grpc(f: Fronts) -> None:
    batch = create(f, "My New Batch")
    assert batch.batch_id.startswith("batch_") and batch.name == "My New Batch"
    assert (
        batch.create_time.seconds > 0
        and batch.expire_time.seconds - batch.create_time.seconds == 30 * 86400
    )
    assert not batch.HasField("cancel_time") and not batch.HasField("input_file_id")
    assert batch.state == batch_pb2.BatchState()
    add(f, batch.batch_id, chat_request("b", "two"), chat_request("a", "one"))
    f.step()
    got = f.call("GetBatch", batch_pb2.GetBatchRequest(batch_id=batch.batch_id))
    assert (got.state.num_requests, got.state.num_success, got.state.num_pending) == (2, 2, 0)
    results = f.call("ListBatchResults", batch_pb2.ListBatchResultsRequest(batch_id=batch.batch_id))
    assert [r.batch_request_id for r in results.results] == ["a", "b"]
    first = results.results[0]
    assert first.error.code == 0
    output = first.response.completion_response.outputs[0]
    assert output.message.content == "one" and output.message.role == chat_pb2.ROLE_ASSISTANT
    assert output.finish_reason == 3  # REASON_STOP
    usage = first.response.completion_response.usage
    assert usage.prompt_tokens == count_tokens("one") and usage.cost_in_usd_ticks > 0
    assert not results.HasField("pagination_token")
    cancelled = f.call("CancelBatch", batch_pb2.CancelBatchRequest(batch_id=batch.batch_id))
    assert cancelled.HasField("cancel_time")


def test_both_fronts_share_one_store(f: Fronts) -> None:
    grpc_batch = create(f, "over grpc")
    add(f, grpc_batch.batch_id, chat_request("g1", "from grpc"))
    rest_batch = f.rest.post("/batches", json={"name": "over rest"}).json()["batch_id"]
    item = {"batch_request_id": "r1", "batch_request": {"chat_get_completion": {
        "model": "grok-4.3", "messages": [{"role": "user", "content": "from rest"}]}}}  # fmt: skip
    assert (
        f.rest.post(f"/batches/{rest_batch}/requests", json={"batch_requests": [item]}).status_code
        == 200
    )
    f.step()
    names = [b.name for b in f.call("ListBatches", batch_pb2.ListBatchesRequest()).batches]
    assert names == ["over rest", "over grpc"]
    over_rest = f.rest.get(f"/batches/{grpc_batch.batch_id}/results").json()["results"]
    content = over_rest[0]["batch_result"]["response"]["chat_get_completion"]["choices"][0][
        "message"
    ]["content"]
    assert content == "from grpc"
    over_grpc = f.call("ListBatchResults", batch_pb2.ListBatchResultsRequest(batch_id=rest_batch))
    assert (
        over_grpc.results[0].response.completion_response.outputs[0].message.content == "from rest"
    )
    # the same chat over both fronts is the same stored request: re-adding it is idempotent
    same = {"batch_request_id": "g1", "batch_request": {"chat_get_completion": {
        "model": "grok-4.3", "messages": [{"role": "user", "content": "from grpc"}]}}}  # fmt: skip
    assert (
        f.rest.post(
            f"/batches/{grpc_batch.batch_id}/requests", json={"batch_requests": [same]}
        ).status_code
        == 200
    )


def test_pages_limits_and_tokens(f: Fronts) -> None:
    batch = create(f)
    add(f, batch.batch_id, *[chat_request(f"r{i:02d}") for i in range(7)])
    f.step()
    seen, token = [], None
    while True:
        request = batch_pb2.ListBatchRequestMetadataRequest(batch_id=batch.batch_id, limit=3)
        if token:
            request.pagination_token = token
        page = f.call("ListBatchRequestMetadata", request)
        seen += [m.batch_request_id for m in page.batch_request_metadata]
        token = page.pagination_token if page.HasField("pagination_token") else None
        if not token:
            break
    assert seen == [f"r{i:02d}" for i in range(7)]
    # a REST token works over gRPC: they are the same tokens
    rest_page = f.rest.get(f"/batches/{batch.batch_id}/results", params={"limit": 2}).json()
    rest_token = rest_page["pagination_token"]
    page = f.call("ListBatchResults", batch_pb2.ListBatchResultsRequest(
        batch_id=batch.batch_id, limit=2, pagination_token=rest_token))  # fmt: skip
    assert [r.batch_request_id for r in page.results] == ["r02", "r03"]
    for limit in (-1, 1001):
        raises(grpc.StatusCode.INVALID_ARGUMENT, f.call, "ListBatchResults",
               batch_pb2.ListBatchResultsRequest(batch_id=batch.batch_id, limit=limit))  # fmt: skip
    raises(grpc.StatusCode.INVALID_ARGUMENT, f.call, "ListBatches",
           batch_pb2.ListBatchesRequest(pagination_token="!!"))  # fmt: skip


def test_status_filter(f: Fronts) -> None:
    batch = create(f)
    f.handle.server.engine.pause()
    add(
        f,
        batch.batch_id,
        chat_request("ok"),
        chat_request("bad", max_tokens=-5),
        chat_request("later"),
    )
    f.handle.server.engine.step(2)
    add(f, batch.batch_id, chat_request("pending"))

    def ids(*states: int) -> list[str]:
        request = batch_pb2.ListBatchRequestMetadataRequest(batch_id=batch.batch_id, status=states)
        return [
            m.batch_request_id
            for m in f.call("ListBatchRequestMetadata", request).batch_request_metadata
        ]

    assert ids() == ["bad", "later", "ok", "pending"]
    assert ids(State.STATE_SUCCEEDED) == ["ok"]
    assert ids(State.STATE_FAILED) == ["bad"]
    assert ids(State.STATE_PENDING) == ["later", "pending"]
    assert ids(State.STATE_FAILED, State.STATE_SUCCEEDED) == ["bad", "ok"]
    assert ids(State.STATE_UNKNOWN) == []
    meta = f.call("ListBatchRequestMetadata", batch_pb2.ListBatchRequestMetadataRequest(
        batch_id=batch.batch_id, status=[State.STATE_FAILED])).batch_request_metadata[0]  # fmt: skip
    assert meta.endpoint == "xai_api.Chat/GetCompletion" and meta.model == "grok-4.3"
    assert meta.state == State.STATE_FAILED and meta.HasField("finish_time")


def test_failed_and_cancelled_rows_are_non_zero_statuses(f: Fronts) -> None:
    batch = create(f)
    f.handle.server.engine.pause()
    add(f, batch.batch_id, chat_request("bad", max_tokens=-5), chat_request("left"))
    f.handle.server.engine.step(1)
    f.call("CancelBatch", batch_pb2.CancelBatchRequest(batch_id=batch.batch_id))
    results = f.call(
        "ListBatchResults", batch_pb2.ListBatchResultsRequest(batch_id=batch.batch_id)
    ).results
    by_id = {r.batch_request_id: r for r in results}
    assert by_id["bad"].error.code != 0 and "max_tokens" in by_id["bad"].error.message
    assert (by_id["left"].error.code, by_id["left"].error.message) == (1, "Batch cancelled")
    assert not by_id["bad"].HasField("response")


def test_get_batch_request_result_returns_the_request_as_sent(f: Fronts) -> None:
    batch = create(f)
    sent = chat_request("x", "question", temperature=0.7, max_tokens=100)
    add(f, batch.batch_id, sent)
    f.handle.server.engine.pause()
    got = f.call("GetBatchRequestResult", batch_pb2.GetBatchRequestResultRequest(
        batch_id=batch.batch_id, batch_request_id="x"))  # fmt: skip
    assert got.request == sent
    f.step()
    got = f.call("GetBatchRequestResult", batch_pb2.GetBatchRequestResultRequest(
        batch_id=batch.batch_id, batch_request_id="x"))  # fmt: skip
    assert got.result.response.completion_response.outputs[0].message.content == "question"
    raises(grpc.StatusCode.NOT_FOUND, f.call, "GetBatchRequestResult",
           batch_pb2.GetBatchRequestResultRequest(batch_id=batch.batch_id, batch_request_id="nope"))  # fmt: skip


def test_requests_added_over_rest_read_back_as_protos(f: Fronts) -> None:
    batch_id = f.rest.post("/batches", json={"name": "r"}).json()["batch_id"]
    items = [
        {"batch_request_id": "resp", "batch_request": {"responses": {
            "model": "grok-4.3", "instructions": "terse", "input": "hi", "max_output_tokens": 9}}},
        {"batch_request_id": "img", "batch_request": {"image_edit": {
            "model": "grok-imagine-image", "prompt": "p", "image": {"url": "https://x/a.png"}}}},
    ]  # fmt: skip
    assert (
        f.rest.post(f"/batches/{batch_id}/requests", json={"batch_requests": items}).status_code
        == 200
    )
    get = batch_pb2.GetBatchRequestResultRequest
    resp = f.call("GetBatchRequestResult", get(batch_id=batch_id, batch_request_id="resp")).request
    messages = resp.completion_request.messages
    assert [(m.role, m.content[0].text) for m in messages] == [
        (chat_pb2.ROLE_SYSTEM, "terse"),
        (chat_pb2.ROLE_USER, "hi"),
    ]
    assert resp.completion_request.max_tokens == 9
    img = f.call("GetBatchRequestResult", get(batch_id=batch_id, batch_request_id="img")).request
    assert (
        img.image_request.image.image_url == "https://x/a.png" and img.image_request.prompt == "p"
    )


def test_media_requests_and_results(f: Fronts) -> None:
    batch = create(f)
    add(
        f,
        batch.batch_id,
        batch_pb2.BatchRequest(batch_request_id="img", image_request=image_pb2.GenerateImageRequest(
            model="grok-imagine-image", prompt="a fox", n=2)),
        batch_pb2.BatchRequest(batch_request_id="vid", video_request=video_pb2.GenerateVideoRequest(
            model="grok-imagine-video", prompt="a fox", duration=3)),
        batch_pb2.BatchRequest(batch_request_id="ext", video_extension_request=video_pb2.ExtendVideoRequest(
            model="grok-imagine-video", prompt="more", video=video_pb2.VideoUrlContent(url="https://x/v.mp4"))),
    )  # fmt: skip
    f.step()
    results = f.call(
        "ListBatchResults", batch_pb2.ListBatchResultsRequest(batch_id=batch.batch_id)
    ).results
    by_id = {r.batch_request_id: r for r in results}
    images = by_id["img"].response.image_response
    assert len(images.images) == 2 and images.images[0].url.startswith(
        "https://media.batchframe.invalid/"
    )
    assert images.usage.cost_in_usd_ticks == 2 * 200 * 10**6
    video = by_id["vid"].response.video_response
    assert video.video.duration == 3 and video.video.url.endswith(".mp4")
    assert by_id["ext"].response.video_response.video.url
    rest = f.rest.get(f"/batches/{batch.batch_id}/requests").json()["batch_request_metadata"]
    assert {r["batch_request_id"]: r["endpoint"] for r in rest}[
        "img"
    ] == "xai_api.Image/GenerateImage"


def test_cost_breakdown(f: Fronts) -> None:
    batch = create(f)
    assert batch.cost_breakdown.total_cost_usd_ticks == 0
    add(f, batch.batch_id, chat_request("a", "one two"), chat_request("b", "three"),
        chat_request("bad", max_tokens=-1),
        batch_pb2.BatchRequest(batch_request_id="img", image_request=image_pb2.GenerateImageRequest(
            model="grok-imagine-image", prompt="x")))  # fmt: skip
    f.step()
    got = f.call("GetBatch", batch_pb2.GetBatchRequest(batch_id=batch.batch_id))
    results = f.rest.get(f"/batches/{batch.batch_id}/results").json()["results"]
    ticks = {}
    for r in results:
        response = r["batch_result"].get("response")
        if response:
            body = next(iter(response.values()))
            ticks[r["batch_request_id"]] = body["usage"]["cost_in_usd_ticks"]
    breakdown = got.cost_breakdown
    assert breakdown.total_cost_usd_ticks == sum(ticks.values()) > 0
    endpoints = {e.endpoint: (e.request_count, e.cost_usd_ticks) for e in breakdown.endpoint_costs}
    assert endpoints == {
        "xai_api.Chat/GetCompletion": (2, ticks["a"] + ticks["b"]),
        "xai_api.Image/GenerateImage": (1, ticks["img"]),
    }
    assert breakdown.HasField("calculation_time")
    rest_batch = f.rest.get(f"/batches/{batch.batch_id}").json()
    assert "cost_breakdown" not in rest_batch  # REST documents no such field


def test_status_codes_mirror_rest(f: Fronts) -> None:
    missing = "batch_00000000-0000-4000-8000-000000000000"
    raises(
        grpc.StatusCode.NOT_FOUND, f.call, "GetBatch", batch_pb2.GetBatchRequest(batch_id=missing)
    )
    raises(grpc.StatusCode.NOT_FOUND, f.call, "GetBatch", batch_pb2.GetBatchRequest(batch_id="x"))
    raises(
        grpc.StatusCode.INVALID_ARGUMENT,
        f.call,
        "CreateBatch",
        batch_pb2.CreateBatchRequest(name=""),
    )
    batch = create(f)
    message = raises(
        grpc.StatusCode.INVALID_ARGUMENT,
        add,
        f,
        batch.batch_id,
        chat_request("m", model="grok-4.5"),
    )
    assert message == "Model grok-4.5 is not supported for batch processing."
    raises(grpc.StatusCode.INVALID_ARGUMENT, add, f, batch.batch_id, chat_request("m", model=""))
    raises(
        grpc.StatusCode.INVALID_ARGUMENT,
        add,
        f,
        batch.batch_id,
        batch_pb2.BatchRequest(batch_request_id="k"),
    )
    add(f, batch.batch_id, chat_request("dup", "one"))
    conflict = raises(
        grpc.StatusCode.FAILED_PRECONDITION, add, f, batch.batch_id, chat_request("dup", "two")
    )
    assert "content differs" in conflict
    f.call("CancelBatch", batch_pb2.CancelBatchRequest(batch_id=batch.batch_id))
    raises(grpc.StatusCode.PERMISSION_DENIED, add, f, batch.batch_id, chat_request("late"))
    assert (
        f.call("GetBatch", batch_pb2.GetBatchRequest(batch_id=batch.batch_id)).state.num_requests
        == 1
    )


def test_file_batches_over_grpc(f: Fronts) -> None:
    content = orjson.dumps({"custom_id": "c", "method": "POST", "url": "/v1/chat/completions",
                            "body": {"model": "grok-4.3", "messages": [{"role": "user", "content": "f"}]}})  # fmt: skip
    file_id = f.rest.post("/files", files={"file": ("a.jsonl", content)}).json()["id"]
    batch = f.call("CreateBatch", batch_pb2.CreateBatchRequest(name="file", input_file_id=file_id))
    assert batch.input_file_id == file_id
    message = raises(grpc.StatusCode.FAILED_PRECONDITION, add, f, batch.batch_id, chat_request("x"))
    assert message == "Cannot add inline requests to a file-based batch"
    assert f.handle.server.ingest.wait_idle()
    bad = f.rest.post("/files", files={"file": ("b.jsonl", b"{oops\n")}).json()["id"]
    rejected = f.call("CreateBatch", batch_pb2.CreateBatchRequest(name="bad", input_file_id=bad))
    assert f.handle.server.ingest.wait_idle()
    rejected = f.call("GetBatch", batch_pb2.GetBatchRequest(batch_id=rejected.batch_id))
    assert rejected.cancel_by_xai_message.startswith("JSONL file validation failed: line 1")
    raises(grpc.StatusCode.NOT_FOUND, f.call, "CreateBatch",
           batch_pb2.CreateBatchRequest(name="x", input_file_id="file_00000000-0000-4000-8000-000000000000"))  # fmt: skip


def test_keys_and_teams() -> None:
    with fronts(keys={"grpc-test-key": "a", "other-key": "b"}) as f:
        batch = create(f)
        other = (("authorization", "Bearer other-key"),)
        raises(
            grpc.StatusCode.NOT_FOUND,
            f.call,
            "GetBatch",
            batch_pb2.GetBatchRequest(batch_id=batch.batch_id),
            other,
        )
        assert list(f.call("ListBatches", batch_pb2.ListBatchesRequest(), other).batches) == []
        wrong = (("authorization", "Bearer xai-not-a-key-at-all"),)
        message = raises(
            grpc.StatusCode.INVALID_ARGUMENT,
            f.call,
            "ListBatches",
            batch_pb2.ListBatchesRequest(),
            wrong,
        )
        assert message.startswith("Incorrect API key provided") and "not-a-key" not in message
        raises(
            grpc.StatusCode.UNAUTHENTICATED,
            f.call,
            "ListBatches",
            batch_pb2.ListBatchesRequest(),
            (),
        )
        raises(grpc.StatusCode.UNAUTHENTICATED, f.tokenize.TokenizeText,
               tokenize_pb2.TokenizeTextRequest(text="x", model="grok-4.3"))  # fmt: skip


def test_faults_and_limits() -> None:
    with fronts(add_calls_per_30s=1, creates_per_second=1) as f:
        batch = create(f)
        raises(grpc.StatusCode.RESOURCE_EXHAUSTED, create, f)
        add(f, batch.batch_id, chat_request("a"))
        with pytest.raises(grpc.RpcError) as info:
            add(f, batch.batch_id, chat_request("b"))
        assert code_of(info.value) == grpc.StatusCode.RESOURCE_EXHAUSTED
        trailing = dict(info.value.trailing_metadata())  # type: ignore[attr-defined]
        assert int(trailing["retry-after"]) >= 1
        # the REST front spends the same budget
        assert (
            f.rest.post(
                f"/batches/{batch.batch_id}/requests", json={"batch_requests": []}
            ).status_code
            == 429
        )
    with fronts(http_error_rate=1.0, seed=3) as f:
        codes = set()
        for _ in range(12):
            with pytest.raises(grpc.RpcError) as info:
                f.call("ListBatches", batch_pb2.ListBatchesRequest())
            codes.add(code_of(info.value))
        assert codes == {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE}
        assert f.handle.server.internal_errors == 0
    with fronts(drop_rate=1.0, seed=1) as f:
        raises(grpc.StatusCode.UNAVAILABLE, f.call, "ListBatches", batch_pb2.ListBatchesRequest())


def test_body_limit_is_resource_exhausted() -> None:
    with fronts(max_body_mb=0.01) as f:
        batch = create(f)
        raises(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            add,
            f,
            batch.batch_id,
            chat_request("big", "x" * 20_000),
        )
        add(f, batch.batch_id, chat_request("small"))


def test_tokenizer_and_models_services(f: Fronts) -> None:
    reply = f.tokenize.TokenizeText(
        tokenize_pb2.TokenizeTextRequest(text="Hello world", model="grok-4.3"), metadata=AUTH
    )
    assert [(t.string_token, t.token_bytes) for t in reply.tokens] == [
        ("Hello", b"Hello"),
        (" world", b" world"),
    ]
    rest = f.rest.post("/tokenize-text", json={"text": "Hello world", "model": "grok-4.3"}).json()
    assert [t.token_id for t in reply.tokens] == [t["token_id"] for t in rest["token_ids"]]
    raises(grpc.StatusCode.NOT_FOUND, f.tokenize.TokenizeText,
           tokenize_pb2.TokenizeTextRequest(text="x", model="nope"), metadata=AUTH)  # fmt: skip
    models = f.models.ListLanguageModels(empty_pb2.Empty(), metadata=AUTH).models
    listed = f.rest.get("/language-models").json()["models"]
    assert [m.name for m in models] == [m["id"] for m in listed]
    assert [
        (m.prompt_text_token_price, m.completion_text_token_price, m.cached_prompt_token_price)
        for m in models
    ] == [
        (
            m["prompt_text_token_price"],
            m["completion_text_token_price"],
            m["cached_prompt_text_token_price"],
        )
        for m in listed
    ]
    one = f.models.GetLanguageModel(models_pb2.GetModelRequest(name="grok-4.20"), metadata=AUTH)
    assert one.name == "grok-4.20-0309-reasoning"
    images = f.models.ListImageGenerationModels(empty_pb2.Empty(), metadata=AUTH).models
    assert [m.name for m in images] == ["grok-imagine-image", "grok-imagine-image-quality"]
    assert list(f.models.ListEmbeddingModels(empty_pb2.Empty(), metadata=AUTH).models) == []
    for method in (
        f.models.GetLanguageModel,
        f.models.GetEmbeddingModel,
        f.models.GetImageGenerationModel,
    ):
        raises(
            grpc.StatusCode.NOT_FOUND,
            method,
            models_pb2.GetModelRequest(name="nope"),
            metadata=AUTH,
        )


def test_results_landing_between_pages_are_never_missed(f: Fronts) -> None:
    """The next page is encoded ahead of the call; a result finished meanwhile must show up."""
    engine = f.handle.server.engine
    engine.pause()
    batch = create(f)
    add(f, batch.batch_id, *[chat_request(f"r{i}") for i in range(4)])
    engine.step(2)  # r0, r1 finished
    add(f, batch.batch_id, chat_request("q"))  # sorts after r0..r3, finished after them
    engine.step(2)  # r2, r3
    first = f.call(
        "ListBatchResults", batch_pb2.ListBatchResultsRequest(batch_id=batch.batch_id, limit=2)
    )
    assert [r.batch_request_id for r in first.results] == ["r0", "r1"]
    # the page after "r1" is being read ahead now (r2, r3); then "r1a" and "q" finish.
    add(f, batch.batch_id, chat_request("r1a"))
    engine.step()
    second = f.call("ListBatchResults", batch_pb2.ListBatchResultsRequest(
        batch_id=batch.batch_id, limit=2, pagination_token=first.pagination_token))  # fmt: skip
    assert [r.batch_request_id for r in second.results] == ["r1a", "r2"]
    rest = f.rest.get(f"/batches/{batch.batch_id}/results", params={
        "limit": 2, "pagination_token": first.pagination_token}).json()  # fmt: skip
    assert [r["batch_request_id"] for r in rest["results"]] == ["r1a", "r2"]
    third = f.call("ListBatchResults", batch_pb2.ListBatchResultsRequest(
        batch_id=batch.batch_id, limit=2, pagination_token=second.pagination_token))  # fmt: skip
    assert [r.batch_request_id for r in third.results] == ["r3"]  # "q" sorts before the token
