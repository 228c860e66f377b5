"""The gRPC server: the methods of :mod:`.handlers` behind auth, faults and status mapping.

Every call is checked the way a REST call is: ``authorization: Bearer <key>`` in the metadata
(missing: UNAUTHENTICATED; an unknown key with a keys file: INVALID_ARGUMENT "Incorrect API key
provided", as REST's 400), the injected faults (``http_error_rate`` as INTERNAL / UNAVAILABLE,
``drop_rate`` as UNAVAILABLE before or after the call took effect, ``latency``), the
add-call and creation budgets (RESOURCE_EXHAUSTED with ``retry-after`` trailing metadata) and
``max_body_mb`` (RESOURCE_EXHAUSTED). A request that does not parse as its proto is
INVALID_ARGUMENT, never INTERNAL. HTTP statuses map to codes as tonic does.

The services are built from the descriptors of the stubs that ship in the ``xai-sdk`` wheel.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent import futures
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage
from xai_sdk.proto.v6 import batch_pb2, models_pb2, tokenize_pb2

from batchframe.server.errors import (
    Internal,
    InvalidArgument,
    MethodNotAllowed,
    PayloadTooLarge,
    ServerProblem,
    Unavailable,
)
from batchframe.server.grpc_front.handlers import Handlers

if TYPE_CHECKING:
    from batchframe.server.app import BatchServer

__all__ = ["STATUS_CODES", "GrpcFront"]

log = logging.getLogger("batchframe")

#: HTTP status of a server problem -> the gRPC code the gRPC front answers with.
STATUS_CODES: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    412: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    503: grpc.StatusCode.UNAVAILABLE,
}
_SERVICES: tuple[ServiceDescriptor, ...] = (
    batch_pb2.DESCRIPTOR.services_by_name["BatchMgmt"],
    tokenize_pb2.DESCRIPTOR.services_by_name["Tokenize"],
    models_pb2.DESCRIPTOR.services_by_name["Models"],
)
_MIB = 1024 * 1024


class _Malformed:
    """What the request deserializer hands on when the bytes are not the method's proto."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class GrpcFront:
    """``xai_api.BatchMgmt``, ``Tokenize`` and ``Models`` for a :class:`BatchServer`, on a port.

    >>> front = GrpcFront(server, "127.0.0.1", 0)   # doctest: +SKIP
    >>> front.start(); front.address                 # doctest: +SKIP
    'localhost:50123'
    """

    def __init__(self, server: BatchServer, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = server
        self.handlers = Handlers(server)
        # Big enough for any body max_body_mb allows (checked per call, as it can change).
        limit = max(server.config.max_body_bytes, 64 * _MIB) + _MIB
        self._grpc = grpc.server(
            futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="batchframe-grpc"),
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 0),
            ],
        )
        for service in _SERVICES:
            self._grpc.add_generic_rpc_handlers((self._generic(service),))
        shown = f"[{host}]" if ":" in host else host
        self.port = self._grpc.add_insecure_port(f"{shown}:{port}")
        if self.port == 0:
            raise RuntimeError(f"the gRPC front could not bind {shown}:{port}")
        self.host = host
        # The SDK gives local (plain) credentials to "localhost:N" only.
        self.address = f"localhost:{self.port}"

    def start(self) -> None:
        self._grpc.start()

    def stop(self, grace: float = 1.0) -> None:
        self._grpc.stop(grace).wait(grace + 5.0)
        self.handlers.close()

    # -- plumbing ------------------------------------------------------------------------------

    def _generic(self, service: ServiceDescriptor) -> grpc.GenericRpcHandler:
        methods = {}
        for method in service.methods:
            request_class = message_factory.GetMessageClass(method.input_type)
            impl = getattr(self.handlers, method.name, None)
            methods[method.name] = grpc.unary_unary_rpc_method_handler(
                self._wrap(method.name, impl),
                request_deserializer=self._parser(request_class),
                response_serializer=_serialize,
            )
        return grpc.method_handlers_generic_handler(service.full_name, methods)

    def _parser(self, cls: type[ProtoMessage]) -> Callable[[bytes], Any]:
        def parse(raw: bytes) -> Any:
            limit = int(self.server.faults.max_body_mb * _MIB)
            if len(raw) > limit:
                return _Malformed(
                    f"Request body is larger than {self.server.faults.max_body_mb:g} MB"
                )
            try:
                return cls.FromString(raw)
            except (DecodeError, RecursionError, ValueError) as exc:
                return _Malformed(f"The request is not a valid {cls.DESCRIPTOR.full_name}: {exc}")

        return parse

    def _wrap(
        self, name: str, impl: Callable[[str, Any], Any] | None
    ) -> Callable[[Any, grpc.ServicerContext], Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                return self._call(name, impl, request, context)
            except ServerProblem as problem:
                _abort(context, problem)
            except Exception:
                self.server.internal_errors += 1
                log.exception("gRPC front: unhandled error in %s", name)
                _abort(context, Internal("Internal server error"))

        return call

    def _call(
        self,
        name: str,
        impl: Callable[[str, Any], Any] | None,
        request: Any,
        context: grpc.ServicerContext,
    ) -> Any:
        faults = self.server.faults
        if isinstance(request, _Malformed):
            if request.reason.startswith("Request body is larger"):
                raise PayloadTooLarge(request.reason)
            raise InvalidArgument(request.reason)
        if faults.latency > 0:
            time.sleep(faults.latency)
        error = faults.pick_http_error()
        if error == 500:
            raise Internal("Injected server error (http_error_rate)")
        if error == 503:
            raise Unavailable("Injected unavailability (http_error_rate)")
        team = self.server.authenticate(_headers(context))
        if impl is None:
            raise MethodNotAllowed(f"{name} is not served by the local batch server")
        drop = faults.pick_drop()
        if drop == "before":
            raise Unavailable("dropped connection (drop_rate)")
        reply = impl(team, request)
        if drop == "after":
            raise Unavailable("dropped connection (drop_rate)")
        return reply


def _headers(context: grpc.ServicerContext) -> dict[str, str]:
    """The call's text metadata; more than one ``authorization`` entry is a 400."""
    headers: dict[str, str] = {}
    for key, value in context.invocation_metadata():
        if not isinstance(value, str):
            continue  # binary (-bin) metadata carries no credentials
        if key == "authorization" and key in headers:
            raise InvalidArgument("More than one authorization header")
        headers[key] = value
    return headers


def _abort(context: grpc.ServicerContext, problem: ServerProblem) -> None:
    retry = [(k, v) for k, v in problem.headers if k == "retry-after"]
    if retry:
        context.set_trailing_metadata(tuple(retry))
    context.abort(STATUS_CODES.get(problem.status, grpc.StatusCode.UNKNOWN), problem.message)


def _serialize(reply: Any) -> bytes:
    return reply if isinstance(reply, bytes) else bytes(reply.SerializeToString())
