"""Hostile input to the gRPC front: malformed protobuf, odd metadata, unknown enum values, huge
repeated fields. Always a clean status (never INTERNAL or UNKNOWN), and the server keeps
serving; then hypothesis sends random bytes to every method of every service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc_helpers import AUTH, Fronts, chat_request, code_of, fronts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xai_sdk.proto.v6 import batch_pb2, chat_pb2, image_pb2, models_pb2, tokenize_pb2

CLEAN = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNIMPLEMENTED,
}
METHODS = [
    f"/{service.full_name}/{method.name}"
    for service in (
        batch_pb2.DESCRIPTOR.services_by_name["BatchMgmt"],
        tokenize_pb2.DESCRIPTOR.services_by_name["Tokenize"],
        models_pb2.DESCRIPTOR.services_by_name["Models"],
    )
    for method in service.methods
]


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[Fronts, str]]:
    with fronts() as f:
        batch = f.call("CreateBatch", batch_pb2.CreateBatchRequest(name="target"))
        f.call("AddBatchRequests", batch_pb2.AddBatchRequestsRequest(
            batch_id=batch.batch_id, batch_requests=[chat_request("r1")]))  # fmt: skip
        yield f, batch.batch_id


@pytest.fixture
def target(shared: tuple[Fronts, str]) -> tuple[Fronts, str]:
    shared[0].handle.server.internal_errors = 0
    return shared


def raw_call(f: Fronts, method: str, body: bytes, metadata: Any = AUTH) -> grpc.StatusCode:
    call = f.channel.unary_unary(method)  # bytes in, bytes out
    try:
        call(body, metadata=metadata, timeout=30)
    except grpc.RpcError as exc:
        return code_of(exc)
    return grpc.StatusCode.OK


def still_serving(f: Fronts, batch_id: str) -> None:
    batch = f.call("GetBatch", batch_pb2.GetBatchRequest(batch_id=batch_id))
    assert batch.state.num_requests == 1
    assert f.handle.server.internal_errors == 0


def varint(number: int) -> bytes:
    out = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        out.append(low | (0x80 if number else 0))
        if not number:
            return bytes(out)


def tag(message: Any, name: str, wire_type: int = 0) -> bytes:
    return varint(message.DESCRIPTOR.fields_by_name[name].number << 3 | wire_type)


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


MALFORMED = [
    b"\xff",
    b"\x0a",  # a length-delimited field with no length
    b"\x0a\x05ab",  # shorter than its length
    b"\x0a\xff\xff\xff\xff\x0f",  # a 4 GB length
    b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # a varint past 64 bits
    b"\x0f",  # wire type 7 does not exist
]
ODD = [
    b"\x00\x00",  # field number 0: upb rejects it in some messages, not in Empty
    b"\x0b\x0c",  # an empty group: an unknown field, skipped
    b"\x0a\x02\xc3\x28",  # not UTF-8: invalid in a string field 1, fine in a bytes one
]


@pytest.mark.parametrize("method", METHODS)
def test_malformed_protobuf_is_invalid_argument(target: tuple[Fronts, str], method: str) -> None:
    f, batch_id = target
    for body in MALFORMED:
        assert raw_call(f, method, body) == grpc.StatusCode.INVALID_ARGUMENT, (method, body)
    for body in ODD:
        assert raw_call(f, method, body) in CLEAN, (method, body)
    still_serving(f, batch_id)


def test_deeply_nested_protobuf_is_invalid_argument(target: tuple[Fronts, str]) -> None:
    f, batch_id = target
    groups = b"\x1b" * 5000 + b"\x1c" * 5000  # unknown groups nested 5,000 deep
    for method in METHODS:
        assert raw_call(f, method, groups) == grpc.StatusCode.INVALID_ARGUMENT, method
    still_serving(f, batch_id)


def test_odd_metadata(target: tuple[Fronts, str]) -> None:
    f, batch_id = target
    request = batch_pb2.GetBatchRequest(batch_id=batch_id)
    cases = [
        ((), grpc.StatusCode.UNAUTHENTICATED),
        ((("authorization", "Bearer"),), grpc.StatusCode.UNAUTHENTICATED),
        ((("authorization", "Bearer    "),), grpc.StatusCode.UNAUTHENTICATED),
        ((("authorization", "Basic dXNlcjpwYXNz"),), grpc.StatusCode.UNAUTHENTICATED),
        (
            (("authorization", "Bearer a"), ("authorization", "Bearer b")),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        ((("authorization-bin", b"\x00\xff"),), grpc.StatusCode.UNAUTHENTICATED),
        ((("x-other-bin", b"\x00\xff"), *AUTH), grpc.StatusCode.OK),
        ((("x-long", "v" * 4000), *AUTH), grpc.StatusCode.OK),
    ]
    for metadata, expected in cases:
        try:
            f.call("GetBatch", request, metadata)
            code = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            code = code_of(exc)
        assert code == expected, (metadata[:1], code)
    still_serving(f, batch_id)


def test_unknown_enum_values_are_invalid_argument(target: tuple[Fronts, str]) -> None:
    f, batch_id = target
    items = []
    effort = chat_request("e")
    effort.completion_request.MergeFromString(
        tag(chat_pb2.GetCompletionsRequest, "reasoning_effort") + varint(99)
    )
    items.append(effort)
    role = chat_request("r")
    role.completion_request.messages[0].role = 77  # type: ignore[assignment]
    items.append(role)
    detail = chat_request("d")
    detail.completion_request.messages[0].content.add().image_url.MergeFromString(
        tag(image_pb2.ImageUrlContent, "detail")
        + varint(9)
        + tag(image_pb2.ImageUrlContent, "image_url", 2)
        + b"\x01x"
    )
    items.append(detail)
    fmt = chat_request("f")
    fmt.completion_request.response_format.format_type = 12  # type: ignore[assignment]
    items.append(fmt)
    for item in items:
        code = raw_call(f, "/xai_api.BatchMgmt/AddBatchRequests", batch_pb2.AddBatchRequestsRequest(
            batch_id=batch_id, batch_requests=[item]).SerializeToString())  # fmt: skip
        assert code == grpc.StatusCode.INVALID_ARGUMENT, item
    status = batch_pb2.ListBatchRequestMetadataRequest(batch_id=batch_id)
    status.MergeFromString(tag(batch_pb2.ListBatchRequestMetadataRequest, "status") + varint(42))
    assert raw_call(
        f, "/xai_api.BatchMgmt/ListBatchRequestMetadata", status.SerializeToString()
    ) == (grpc.StatusCode.INVALID_ARGUMENT)
    still_serving(f, batch_id)


def test_huge_repeated_fields(target: tuple[Fronts, str]) -> None:
    f, batch_id = target
    empties = batch_pb2.AddBatchRequestsRequest(batch_id=batch_id)
    empties.batch_requests.extend(batch_pb2.BatchRequest() for _ in range(200_000))
    assert raw_call(f, "/xai_api.BatchMgmt/AddBatchRequests", empties.SerializeToString()) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    statuses = batch_pb2.ListBatchRequestMetadataRequest(
        batch_id=batch_id, status=[batch_pb2.BatchRequestMetadata.State.STATE_PENDING] * 1_000_000
    )
    assert raw_call(
        f, "/xai_api.BatchMgmt/ListBatchRequestMetadata", statuses.SerializeToString()
    ) == (grpc.StatusCode.OK)
    stops = chat_request("many-stops")
    stops.completion_request.stop.extend(["s"] * 100_000)
    other = f.call("CreateBatch", batch_pb2.CreateBatchRequest(name="stops"))
    f.call(
        "AddBatchRequests",
        batch_pb2.AddBatchRequestsRequest(batch_id=other.batch_id, batch_requests=[stops]),
    )
    messages = chat_pb2.GetCompletionsRequest(model="grok-4.3")
    messages.messages.extend(chat_pb2.Message() for _ in range(100_000))  # every role unset
    code = raw_call(f, "/xai_api.BatchMgmt/AddBatchRequests", batch_pb2.AddBatchRequestsRequest(
        batch_id=other.batch_id, batch_requests=[batch_pb2.BatchRequest(completion_request=messages)],
    ).SerializeToString())  # fmt: skip
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    still_serving(f, batch_id)


def test_odd_values_in_valid_protos(target: tuple[Fronts, str]) -> None:
    f, batch_id = target
    cases: list[tuple[str, Any]] = [
        ("GetBatch", batch_pb2.GetBatchRequest(batch_id="x" * 100_000)),
        ("GetBatch", batch_pb2.GetBatchRequest(batch_id="batch_' OR '1'='1")),
        ("CancelBatch", batch_pb2.CancelBatchRequest(batch_id="")),
        ("CreateBatch", batch_pb2.CreateBatchRequest(name="x" * 2000)),
        ("CreateBatch", batch_pb2.CreateBatchRequest(name="a\x00b")),
        ("CreateBatch", batch_pb2.CreateBatchRequest(name="n", input_file_id="../../etc/passwd")),
        ("ListBatches", batch_pb2.ListBatchesRequest(limit=-5)),
        ("ListBatches", batch_pb2.ListBatchesRequest(limit=2**31 - 1)),
        ("ListBatchResults", batch_pb2.ListBatchResultsRequest(batch_id=batch_id, pagination_token="\u2603" * 50)),
        ("AddBatchRequests", batch_pb2.AddBatchRequestsRequest(batch_id=batch_id, batch_requests=[
            chat_request("", "x")])),
        ("AddBatchRequests", batch_pb2.AddBatchRequestsRequest(batch_id=batch_id, batch_requests=[
            chat_request("n\x00ul", "x")])),
        ("AddBatchRequests", batch_pb2.AddBatchRequestsRequest(batch_id=batch_id, batch_requests=[
            batch_pb2.BatchRequest(completion_request=chat_pb2.GetCompletionsRequest(
                model="grok-4.3", tools=[chat_pb2.Tool()]))])),
        ("GetBatchRequestResult", batch_pb2.GetBatchRequestResultRequest(batch_id=batch_id, batch_request_id="")),
    ]  # fmt: skip
    for method, request in cases:
        code = raw_call(f, f"/xai_api.BatchMgmt/{method}", request.SerializeToString())
        assert code in CLEAN - {grpc.StatusCode.OK}, (method, code)
    still_serving(f, batch_id)


def test_unknown_method_is_unimplemented(target: tuple[Fronts, str]) -> None:
    f, batch_id = target
    assert raw_call(f, "/xai_api.BatchMgmt/Teleport", b"") == grpc.StatusCode.UNIMPLEMENTED
    assert raw_call(f, "/xai_api.Chat/GetCompletion", b"") == grpc.StatusCode.UNIMPLEMENTED
    still_serving(f, batch_id)


@pytest.mark.parametrize("method", METHODS)
@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(raw=st.binary(max_size=300))
def test_random_bytes_never_internal(target: tuple[Fronts, str], method: str, raw: bytes) -> None:
    f, batch_id = target
    assert raw_call(f, method, raw) in CLEAN
    wrapped = field(1, batch_id.encode()) + raw  # a real batch ID, then noise
    assert raw_call(f, method, wrapped) in CLEAN
    assert f.handle.server.internal_errors == 0
