"""The gRPC methods: ``xai_api.BatchMgmt``, ``xai_api.Tokenize`` and ``xai_api.Models``.

Each method turns its request proto into plain values, calls the shared
:class:`~batchframe.server.service.BatchService` (the one the REST routes call, over the same
store and engine) and builds the reply proto. Auth, faults, limits and the mapping of problems
to status codes are the front's (:mod:`.front`).

Choices where the proto is silent: ``limit`` 0 means the default page (100), as on REST; page
tokens are the REST ones; ``cost_breakdown`` sums the succeeded results' ``cost_in_usd_ticks``
per endpoint (``calculation_time`` is when it was summed); request states filter by name.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from google.protobuf import empty_pb2
from xai_sdk.proto.v6 import batch_pb2, models_pb2, tokenize_pb2

from batchframe.server.errors import InvalidArgument, NotFound
from batchframe.server.grpc_front.pages import ResultPages
from batchframe.server.grpc_front.requests import from_stored, to_stored
from batchframe.server.grpc_front.results import result_proto
from batchframe.server.grpc_front.wire import timestamp
from batchframe.server.prices import CREATED_TS, ModelPrice
from batchframe.server.service import ENDPOINTS
from batchframe.server.store_protocol import CANCELLED, FAILED, PENDING, SUCCEEDED, BatchRow

if TYPE_CHECKING:
    from batchframe.server.app import BatchServer

__all__ = ["Handlers"]

State = batch_pb2.BatchRequestMetadata.State
_TO_PROTO_STATE = {
    0: State.STATE_UNKNOWN,
    PENDING: State.STATE_PENDING,
    SUCCEEDED: State.STATE_SUCCEEDED,
    FAILED: State.STATE_FAILED,
    CANCELLED: State.STATE_CANCELLED,
}
_FROM_PROTO_STATE = {
    State.STATE_PENDING: PENDING,
    State.STATE_SUCCEEDED: SUCCEEDED,
    State.STATE_FAILED: FAILED,
    State.STATE_CANCELLED: CANCELLED,
}
_COST_CACHE = 4096
_TEXT, _IMAGE = 1, 2  # models_pb2.Modality


class Handlers:
    """Method name -> implementation, for one :class:`BatchServer`."""

    def __init__(self, server: BatchServer) -> None:
        self.server = server
        self.service = server.service
        self._costs: OrderedDict[tuple[int, int, int], batch_pb2.BatchCostBreakdown] = OrderedDict()
        self.pages = ResultPages(self.service)

    def close(self) -> None:
        self.pages.close()

    # -- BatchMgmt -----------------------------------------------------------------------------

    def CreateBatch(self, team: str, req: batch_pb2.CreateBatchRequest) -> batch_pb2.Batch:
        self.server.limit(team, "create")
        row = self.service.create_batch(team, req.name, req.input_file_id or None, now=time.time())
        return self.batch(row)

    def GetBatch(self, team: str, req: batch_pb2.GetBatchRequest) -> batch_pb2.Batch:
        return self.batch(self.service.get_batch(team, req.batch_id))

    def ListBatches(
        self, team: str, req: batch_pb2.ListBatchesRequest
    ) -> batch_pb2.ListBatchesResponse:
        rows, token = self.service.list_batches(team, _limit(req.limit), req.pagination_token)
        out = batch_pb2.ListBatchesResponse(batches=[self.batch(b) for b in rows])
        if token:
            out.pagination_token = token
        return out

    def CancelBatch(self, team: str, req: batch_pb2.CancelBatchRequest) -> batch_pb2.Batch:
        return self.batch(self.service.cancel_batch(team, req.batch_id, now=time.time()))

    def AddBatchRequests(
        self, team: str, req: batch_pb2.AddBatchRequestsRequest
    ) -> empty_pb2.Empty:
        self.service.require_batch(team, req.batch_id)
        self.server.limit(team, "add")
        items = [to_stored(item, i) for i, item in enumerate(req.batch_requests)]
        if self.service.add_requests(team, req.batch_id, items, now=time.time()):
            self.server.engine.notify()
        return empty_pb2.Empty()

    def ListBatchRequestMetadata(
        self, team: str, req: batch_pb2.ListBatchRequestMetadataRequest
    ) -> batch_pb2.ListBatchRequestMetadataResponse:
        states = set()
        for value in set(req.status):
            if value == State.STATE_UNKNOWN:
                continue  # no stored request is in it
            if value not in _FROM_PROTO_STATE:
                raise InvalidArgument(f"status: unknown enum value {value}")
            states.add(_FROM_PROTO_STATE[value])
        if req.status and not states:
            states = {-1}  # only STATE_UNKNOWN asked for: nothing matches
        rows, token = self.service.list_requests(
            team, req.batch_id, _limit(req.limit), req.pagination_token, states
        )
        meta = batch_pb2.BatchRequestMetadata
        out = batch_pb2.ListBatchRequestMetadataResponse(
            batch_request_metadata=[
                meta(
                    batch_request_id=rid,
                    endpoint=ENDPOINTS.get(kind, kind),
                    model=model,
                    state=_TO_PROTO_STATE.get(state, State.STATE_UNKNOWN),
                    create_time=timestamp(created),
                    finish_time=timestamp(finished) if finished is not None else None,
                )
                for rid, kind, model, state, created, finished in rows
            ]
        )
        if token:
            out.pagination_token = token
        return out

    def ListBatchResults(self, team: str, req: batch_pb2.ListBatchResultsRequest) -> bytes:
        """The page as serialized bytes (the hot path: see :mod:`.encode`)."""
        return self.pages.page(team, req.batch_id, _limit(req.limit), req.pagination_token)

    def GetBatchRequestResult(
        self, team: str, req: batch_pb2.GetBatchRequestResultRequest
    ) -> batch_pb2.GetBatchRequestResultResponse:
        kind, _model, canon, _state, result = self.service.request_result(
            team, req.batch_id, req.batch_request_id
        )
        out = batch_pb2.GetBatchRequestResultResponse(
            request=from_stored(req.batch_request_id, kind, canon)
        )
        if result is not None:
            out.result.CopyFrom(result_proto(result))
        return out

    def batch(self, row: BatchRow) -> batch_pb2.Batch:
        out = batch_pb2.Batch(
            batch_id=row.batch_id,
            name=row.name,
            create_time=timestamp(row.create_ts),
            expire_time=timestamp(row.expire_ts),
            create_api_key_id=row.key_id,
            state=batch_pb2.BatchState(
                num_requests=row.num_requests,
                num_pending=row.num_pending,
                num_success=row.num_success,
                num_error=row.num_error,
                num_cancelled=row.num_cancelled,
            ),
            cost_breakdown=self._cost(row),
        )
        if row.cancel_ts is not None:
            out.cancel_time.CopyFrom(timestamp(row.cancel_ts))
        if row.cancel_by_xai_message is not None:
            out.cancel_by_xai_message = row.cancel_by_xai_message
        if row.input_file_id is not None:
            out.input_file_id = row.input_file_id
        return out

    def _cost(self, row: BatchRow) -> batch_pb2.BatchCostBreakdown:
        # Results only ever get added, so the finished count identifies a state of the sums.
        key = (row.pk, row.num_success, row.num_success + row.num_error + row.num_cancelled)
        cached = self._costs.get(key)
        if cached is None:
            parts = self.service.cost_breakdown(row) if row.num_success else []
            cached = batch_pb2.BatchCostBreakdown(
                total_cost_usd_ticks=sum(ticks for _e, _n, ticks in parts),
                endpoint_costs=[
                    batch_pb2.EndpointCost(endpoint=e, cost_usd_ticks=t, request_count=n)
                    for e, n, t in parts
                ],
                calculation_time=timestamp(time.time()),
            )
            self._costs[key] = cached
            while len(self._costs) > _COST_CACHE:
                self._costs.popitem(last=False)
        return cached

    # -- Tokenize and Models -------------------------------------------------------------------

    def TokenizeText(
        self, team: str, req: tokenize_pb2.TokenizeTextRequest
    ) -> tokenize_pb2.TokenizeTextResponse:
        tokens = self.service.tokenize(req.text, req.model)
        return tokenize_pb2.TokenizeTextResponse(
            model=self.service.language_model(req.model).name,
            tokens=[
                tokenize_pb2.Token(
                    token_id=t.token_id, string_token=t.string_token, token_bytes=t.token_bytes
                )
                for t in tokens
            ],
        )

    def ListLanguageModels(
        self, team: str, req: empty_pb2.Empty
    ) -> models_pb2.ListLanguageModelsResponse:
        models = [_language_model(m) for m in self.service.language_models()]
        return models_pb2.ListLanguageModelsResponse(models=models)

    def GetLanguageModel(self, team: str, req: models_pb2.GetModelRequest) -> Any:
        return _language_model(self.service.language_model(req.name))

    def ListEmbeddingModels(
        self, team: str, req: empty_pb2.Empty
    ) -> models_pb2.ListEmbeddingModelsResponse:
        return models_pb2.ListEmbeddingModelsResponse()

    def GetEmbeddingModel(self, team: str, req: models_pb2.GetModelRequest) -> Any:
        raise NotFound(
            f"The model {req.name[:200]} does not exist or your team does not have access to it."
        )

    def ListImageGenerationModels(
        self, team: str, req: empty_pb2.Empty
    ) -> models_pb2.ListImageGenerationModelsResponse:
        return models_pb2.ListImageGenerationModelsResponse(
            models=[_image_model(m) for m in self._image_models()]
        )

    def GetImageGenerationModel(self, team: str, req: models_pb2.GetModelRequest) -> Any:
        for price in self._image_models():
            if req.name == price.name or req.name in price.aliases:
                return _image_model(price)
        raise NotFound(
            f"The model {req.name[:200]} does not exist or your team does not have access to it."
        )

    def _image_models(self) -> list[ModelPrice]:
        found = {
            p.name: p for p in map(self.service.price_of, self.service.models) if p.kind == "image"
        }
        return list(found.values())


def _limit(value: int) -> int | None:
    if value < 0:
        raise InvalidArgument(f"limit must be an integer between 1 and 1000, got {value}")
    return value or None


def _language_model(price: ModelPrice) -> models_pb2.LanguageModel:
    return models_pb2.LanguageModel(
        name=price.name,
        aliases=list(price.aliases),
        version="1.0",
        input_modalities=[_TEXT, _IMAGE],
        output_modalities=[_TEXT],
        prompt_text_token_price=price.prompt_text_token_price,
        prompt_image_token_price=price.prompt_image_token_price,
        cached_prompt_token_price=price.cached_prompt_text_token_price,
        completion_text_token_price=price.completion_text_token_price,
        search_price=price.search_price,
        created=timestamp(CREATED_TS),
        max_prompt_length=price.max_prompt_length,
        system_fingerprint="fp_batchframe_local",
    )


def _image_model(price: ModelPrice) -> models_pb2.ImageGenerationModel:
    return models_pb2.ImageGenerationModel(
        name=price.name,
        aliases=list(price.aliases),
        version="1.0",
        input_modalities=[_TEXT, _IMAGE],
        output_modalities=[_IMAGE],
        image_price=price.unit_price,
        created=timestamp(CREATED_TS),
        max_prompt_length=price.max_prompt_length,
        system_fingerprint="fp_batchframe_local",
    )
