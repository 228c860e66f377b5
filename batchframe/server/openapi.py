"""The hand-written OpenAPI 3.0 document of the seven batch routes (served at /openapi.json)."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["OPENAPI", "OPENAPI_JSON"]

_NULLABLE_STR = {"type": "string", "nullable": True}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _responses(ok: dict[str, Any], *codes: str) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": "OK", **_json(ok)}}
    for code in codes:
        out[code] = {"$ref": "#/components/responses/Error"}
    return out


_BATCH_ID = {
    "name": "batch_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}
_PAGING = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    {"name": "pagination_token", "in": "query", "schema": {"type": "string"}},
]
_COMMON = ("400", "401", "404", "500", "503")

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["code", "error"],
        "properties": {"code": {"type": "string"}, "error": {"type": "string"}},
    },
    "BatchState": {
        "type": "object",
        "required": ["num_requests", "num_pending", "num_success", "num_error", "num_cancelled"],
        "properties": {
            k: {"type": "integer", "minimum": 0}
            for k in ("num_requests", "num_pending", "num_success", "num_error", "num_cancelled")
        },
    },
    "Batch": {
        "type": "object",
        "required": ["batch_id", "name", "create_time", "create_api_key_id", "state"],
        "properties": {
            "batch_id": {"type": "string"},
            "name": {"type": "string"},
            "create_time": {"type": "string"},
            "expire_time": _NULLABLE_STR,
            "create_api_key_id": {"type": "string"},
            "cancel_time": _NULLABLE_STR,
            "cancel_by_xai_message": _NULLABLE_STR,
            "state": _ref("BatchState"),
        },
    },
    "CreateBatch": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 1024}},
    },
    "BatchRequestItem": {
        "type": "object",
        "required": ["batch_request"],
        "properties": {
            "batch_request_id": {"type": "string", "nullable": True, "minLength": 1},
            "batch_request": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "properties": {
                    "chat_get_completion": {
                        "type": "object",
                        "required": ["model", "messages"],
                        "properties": {
                            "model": {"type": "string", "minLength": 1},
                            "messages": {"type": "array", "items": {"type": "object"}},
                        },
                    },
                    "responses": {
                        "type": "object",
                        "required": ["model", "input"],
                        "properties": {"model": {"type": "string", "minLength": 1}},
                    },
                },
            },
        },
    },
    "AddRequests": {
        "type": "object",
        "required": ["batch_requests"],
        "properties": {"batch_requests": {"type": "array", "items": _ref("BatchRequestItem")}},
    },
    "BatchPage": {
        "type": "object",
        "required": ["batches", "pagination_token"],
        "properties": {
            "batches": {"type": "array", "items": _ref("Batch")},
            "pagination_token": _NULLABLE_STR,
        },
    },
    "RequestMetadata": {
        "type": "object",
        "required": [
            "batch_request_id",
            "endpoint",
            "model",
            "state",
            "create_time",
            "finish_time",
        ],
        "properties": {
            "batch_request_id": {"type": "string"},
            "endpoint": {"type": "string"},
            "model": {"type": "string"},
            "state": {
                "type": "string",
                "enum": ["unknown", "pending", "succeeded", "cancelled", "failed"],
            },
            "create_time": {"type": "string"},
            "finish_time": _NULLABLE_STR,
        },
    },
    "RequestPage": {
        "type": "object",
        "required": ["batch_request_metadata", "pagination_token"],
        "properties": {
            "batch_request_metadata": {"type": "array", "items": _ref("RequestMetadata")},
            "pagination_token": _NULLABLE_STR,
        },
    },
    "BatchResult": {
        "type": "object",
        "required": ["batch_request_id", "batch_result"],
        "properties": {
            "batch_request_id": {"type": "string"},
            "batch_result": {
                "type": "object",
                "properties": {"response": {"type": "object"}, "error": {"type": "string"}},
            },
        },
    },
    "ResultPage": {
        "type": "object",
        "required": ["results", "pagination_token"],
        "properties": {
            "results": {"type": "array", "items": _ref("BatchResult")},
            "pagination_token": _NULLABLE_STR,
        },
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "batchframe local batch server (xAI Batch API)", "version": "1"},
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
    "paths": {
        "/v1/batches": {
            "post": {
                "operationId": "create_batch",
                "requestBody": {"required": True, **_json(_ref("CreateBatch"))},
                "responses": _responses(_ref("Batch"), *_COMMON, "415", "422", "429"),
            },
            "get": {
                "operationId": "list_batches",
                "parameters": _PAGING,
                "responses": _responses(_ref("BatchPage"), *_COMMON),
            },
        },
        "/v1/batches/{batch_id}": {
            "get": {
                "operationId": "get_batch",
                "parameters": [_BATCH_ID],
                "responses": _responses(_ref("Batch"), *_COMMON),
            }
        },
        "/v1/batches/{batch_id}:cancel": {
            "post": {
                "operationId": "cancel_batch",
                "parameters": [_BATCH_ID],
                "responses": _responses(_ref("Batch"), *_COMMON),
            }
        },
        "/v1/batches/{batch_id}/requests": {
            "get": {
                "operationId": "list_requests",
                "parameters": [_BATCH_ID, *_PAGING],
                "responses": _responses(_ref("RequestPage"), *_COMMON),
            },
            "post": {
                "operationId": "add_requests",
                "parameters": [_BATCH_ID],
                "requestBody": {"required": True, **_json(_ref("AddRequests"))},
                "responses": _responses(
                    {"type": "object"}, *_COMMON, "403", "412", "413", "415", "422", "429"
                ),
            },
        },
        "/v1/batches/{batch_id}/results": {
            "get": {
                "operationId": "list_results",
                "parameters": [_BATCH_ID, *_PAGING],
                "responses": _responses(_ref("ResultPage"), *_COMMON),
            }
        },
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": _SCHEMAS,
        "responses": {
            "Error": {
                "description": 'The error envelope {"code": <gRPC status text>, "error": <message>}',
                **_json(_ref("Error")),
            }
        },
    },
}

OPENAPI_JSON = orjson.dumps(OPENAPI)
