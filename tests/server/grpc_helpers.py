"""Helpers for the gRPC front's tests: a loopback server with both fronts, raw stubs on it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
from xai_sdk.proto.v6 import batch_pb2, batch_pb2_grpc, chat_pb2, models_pb2_grpc, tokenize_pb2_grpc

from batchframe.server import ServerHandle, serve

KEY = "grpc-test-key"
AUTH = (("authorization", f"Bearer {KEY}"),)


@dataclass
class Fronts:
    """One server, reached over REST (httpx) and gRPC (raw stubs with the key's metadata)."""

    handle: ServerHandle
    channel: grpc.Channel
    rest: httpx.Client

    @property
    def batch(self) -> batch_pb2_grpc.BatchMgmtStub:
        return batch_pb2_grpc.BatchMgmtStub(self.channel)

    @property
    def tokenize(self) -> tokenize_pb2_grpc.TokenizeStub:
        return tokenize_pb2_grpc.TokenizeStub(self.channel)

    @property
    def models(self) -> models_pb2_grpc.ModelsStub:
        return models_pb2_grpc.ModelsStub(self.channel)

    def call(self, method: str, request: Any, metadata: Any = AUTH) -> Any:
        return getattr(self.batch, method)(request, metadata=metadata, timeout=30)

    def step(self) -> int:
        return int(self.handle.server.engine.step())


@contextmanager
def fronts(**options: Any) -> Iterator[Fronts]:
    with serve(grpc_port=0, **options) as handle:
        assert handle.grpc_address is not None
        channel = grpc.insecure_channel(handle.grpc_address)
        headers = {"Authorization": f"Bearer {KEY}"}
        with channel, httpx.Client(base_url=handle.base_url, headers=headers, timeout=30) as rest:
            yield Fronts(handle, channel, rest)


def chat_request(rid: str | None, text: str = "hello", **fields: Any) -> batch_pb2.BatchRequest:
    completion = chat_pb2.GetCompletionsRequest(
        model=fields.pop("model", "grok-4.3"),
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=[chat_pb2.Content(text=text)])],
        **fields,
    )
    item = batch_pb2.BatchRequest(completion_request=completion)
    if rid is not None:
        item.batch_request_id = rid
    return item


def code_of(exc: grpc.RpcError) -> grpc.StatusCode:
    code = exc.code()  # type: ignore[attr-defined]
    assert isinstance(code, grpc.StatusCode)
    return code
