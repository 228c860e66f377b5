"""The hand-written OpenAPI 3.0 document of the REST routes (served at /openapi.json): the seven
batch routes, the file flow, the tokenizer and the model list."""

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
_FILE_ID = {"name": "file_id", "in": "path", "required": True, "schema": {"type": "string"}}
_MODEL_ID = {"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}}
_PRICE = {"type": "integer", "description": "1/100 US cents per million tokens (SIMULATED)"}

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
            "input_file_id": {"type": "string", "description": "only on file-based batches"},
        },
    },
    "CreateBatch": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 1024},
            "input_file_id": {"type": "string", "nullable": True},
        },
    },
    "FileObject": {
        "type": "object",
        "required": ["id", "object", "bytes", "created_at", "filename", "purpose"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string"},
            "bytes": {"type": "integer", "minimum": 0},
            "created_at": {"type": "integer"},
            "expires_at": {"type": "integer", "nullable": True},
            "filename": {"type": "string"},
            "purpose": {"type": "string"},
        },
    },
    "FilePage": {
        "type": "object",
        "required": ["data", "pagination_token"],
        "properties": {
            "data": {"type": "array", "items": _ref("FileObject")},
            "pagination_token": _NULLABLE_STR,
        },
    },
    "FileDeleted": {
        "type": "object",
        "required": ["id", "object", "deleted"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string"},
            "deleted": {"type": "boolean"},
        },
    },
    "Upload": {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary"},
            "purpose": {"type": "string"},
            "expires_after[seconds]": {"type": "integer", "minimum": 3600, "maximum": 2592000},
        },
    },
    "TokenizeText": {
        "type": "object",
        "required": ["text", "model"],
        "properties": {"text": {"type": "string"}, "model": {"type": "string"}},
    },
    "Tokens": {
        "type": "object",
        "required": ["token_ids"],
        "properties": {
            "token_ids": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["token_id", "string_token", "token_bytes"],
                    "properties": {
                        "token_id": {"type": "integer"},
                        "string_token": {"type": "string"},
                        "token_bytes": {"type": "array", "items": {"type": "integer"}},
                    },
                },
            }
        },
    },
    "LanguageModel": {
        "type": "object",
        "required": ["id", "object", "created", "owned_by"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string"},
            "created": {"type": "integer"},
            "owned_by": {"type": "string"},
            "version": {"type": "string"},
            "input_modalities": {"type": "array", "items": {"type": "string"}},
            "output_modalities": {"type": "array", "items": {"type": "string"}},
            "prompt_text_token_price": _PRICE,
            "cached_prompt_text_token_price": _PRICE,
            "prompt_image_token_price": _PRICE,
            "completion_text_token_price": _PRICE,
            "search_price": {"type": "integer"},
            "aliases": {"type": "array", "items": {"type": "string"}},
        },
    },
    "LanguageModels": {
        "type": "object",
        "required": ["models"],
        "properties": {"models": {"type": "array", "items": _ref("LanguageModel")}},
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
        "/v1/files": {
            "post": {
                "operationId": "upload_file",
                "requestBody": {
                    "required": True,
                    "content": {"multipart/form-data": {"schema": _ref("Upload")}},
                },
                "responses": _responses(_ref("FileObject"), *_COMMON, "413", "415"),
            },
            "get": {
                "operationId": "list_files",
                "parameters": _PAGING,
                "responses": _responses(_ref("FilePage"), *_COMMON),
            },
        },
        "/v1/files/{file_id}": {
            "get": {
                "operationId": "get_file",
                "parameters": [_FILE_ID],
                "responses": _responses(_ref("FileObject"), *_COMMON),
            },
            "delete": {
                "operationId": "delete_file",
                "parameters": [_FILE_ID],
                "responses": _responses(_ref("FileDeleted"), *_COMMON),
            },
        },
        "/v1/files/{file_id}/content": {
            "get": {
                "operationId": "file_content",
                "parameters": [_FILE_ID],
                "responses": {
                    "200": {
                        "description": "The file's bytes",
                        "content": {
                            "application/octet-stream": {
                                "schema": {"type": "string", "format": "binary"}
                            }
                        },
                    },
                    **{c: {"$ref": "#/components/responses/Error"} for c in _COMMON},
                },
            }
        },
        "/v1/tokenize-text": {
            "post": {
                "operationId": "tokenize_text",
                "requestBody": {"required": True, **_json(_ref("TokenizeText"))},
                "responses": _responses(_ref("Tokens"), *_COMMON, "415", "422"),
            }
        },
        "/v1/language-models": {
            "get": {
                "operationId": "list_language_models",
                "responses": _responses(_ref("LanguageModels"), *_COMMON),
            }
        },
        "/v1/language-models/{model_id}": {
            "get": {
                "operationId": "get_language_model",
                "parameters": [_MODEL_ID],
                "responses": _responses(_ref("LanguageModel"), *_COMMON),
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
