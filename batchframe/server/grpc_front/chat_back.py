"""Chat requests from the stored REST body back to ``xai_api.GetCompletionsRequest``.

The inverse of :func:`.chat.completion_to_json` (``GetBatchRequestResult`` returns the request
as a proto, whichever front added it). Fields the proto has no place for are dropped; a value of
the wrong type or an unknown enum string is a 400.

>>> from batchframe.server.grpc_front.chat import completion_to_json
>>> body = {"model": "grok-4.3", "messages": [{"role": "user", "content": "hi"}], "seed": 3}
>>> completion_to_json(json_to_completion(body)) == body
True
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from google.protobuf.message import Message as ProtoMessage
from xai_sdk.proto.v6 import chat_pb2, image_pb2

from batchframe.server.errors import InvalidArgument
from batchframe.server.grpc_front.chat_tables import (
    AGENTS,
    DETAIL,
    EFFORT,
    FORMAT,
    INCLUDE,
    ROLES,
    SCALARS,
    SEARCH_MODE,
    SERVER_TOOL_FIELDS,
    TIER,
    TOOL_CALL_TYPE,
    TOOL_MODE,
)
from batchframe.server.grpc_front.wire import date_timestamp, generic_from_json

__all__ = ["json_to_completion", "proto_image_url"]


def json_to_completion(body: dict[str, Any]) -> chat_pb2.GetCompletionsRequest:
    """The proto of a ``chat_get_completion`` REST body (the inverse of :func:`completion_to_json`).

    Fields the proto has no place for are dropped; a value of the wrong type is a 400.
    """
    req = chat_pb2.GetCompletionsRequest()
    try:
        _fill_completion(req, body)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise InvalidArgument(f"request cannot be represented as a proto: {exc}") from None
    return req


def _fill_completion(req: chat_pb2.GetCompletionsRequest, body: dict[str, Any]) -> None:
    for name, value in body.items():
        if value is None:
            continue
        if name == "model":
            req.model = value
        elif name == "messages":
            req.messages.extend(_proto_message(m) for m in value)
        elif name == "max_completion_tokens" and "max_tokens" not in body:
            req.max_tokens = value
        elif name in SCALARS:
            setattr(req, name, value)
        elif name == "stop":
            req.stop.extend([value] if isinstance(value, str) else value)
        elif name == "tools":
            req.tools.extend(_proto_tool(t) for t in value)
        elif name == "tool_choice":
            req.tool_choice.CopyFrom(_proto_tool_choice(value))
        elif name == "response_format":
            req.response_format.CopyFrom(_proto_format(value))
        elif name == "reasoning_effort":
            req.reasoning_effort = EFFORT.number(value)
        elif name == "search_parameters":
            _fill_search(req.search_parameters, value)
        elif name == "include":
            req.include.extend(INCLUDE.number(v) for v in value)
        elif name == "agent_count":
            req.agent_count = AGENTS.number(str(value))
        elif name == "service_tier":
            req.service_tier = TIER.number(value)
        elif name == "guidelines":
            for item in value:
                generic_from_json(item, req.guidelines.add(), "guidelines")


def _proto_message(value: dict[str, Any]) -> chat_pb2.Message:
    msg = chat_pb2.Message(role=ROLES.number(value.get("role", "user")))
    content = value.get("content")
    if isinstance(content, str):
        msg.content.add(text=content)
    elif isinstance(content, list):
        msg.content.extend(_proto_part(part) for part in content)
    for name in ("reasoning_content", "name", "encrypted_content", "tool_call_id"):
        if value.get(name) is not None:
            setattr(msg, name, value[name])
    for call in value.get("tool_calls") or ():
        msg.tool_calls.append(_proto_tool_call(call))
    return msg


def _proto_part(part: dict[str, Any]) -> chat_pb2.Content:
    kind = part.get("type")
    if kind == "text":
        return chat_pb2.Content(text=part.get("text", ""))
    if kind == "image_url":
        return chat_pb2.Content(image_url=proto_image_url(part.get("image_url") or {}))
    if kind == "file":
        file = dict(part.get("file") or {})
        data = file.pop("file_data", None)
        content = chat_pb2.Content()
        for name, item in file.items():
            if name in ("file_id", "filename", "mime_type", "url"):
                setattr(content.file, name, item)
        if data is not None:
            try:
                content.file.data = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidArgument("file.file_data is not base64") from None
        content.file.SetInParent()
        return content
    raise InvalidArgument(f"messages: unknown content part type {str(kind)[:50]!r}")


def proto_image_url(value: dict[str, Any]) -> image_pb2.ImageUrlContent:
    image = image_pb2.ImageUrlContent()
    if value.get("url") is not None:
        image.image_url = value["url"]
    elif value.get("file_id") is not None:
        image.file_id = value["file_id"]
    if value.get("detail") is not None:
        image.detail = DETAIL.number(value["detail"])
    return image


def _proto_tool_call(call: dict[str, Any]) -> chat_pb2.ToolCall:
    out = chat_pb2.ToolCall(id=call.get("id", ""))
    kind = call.get("type", "function")
    out.type = (
        chat_pb2.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL
        if kind == "function"
        else TOOL_CALL_TYPE.number(kind)
    )
    function = call.get("function") or {}
    out.function.name = function.get("name", "")
    arguments = function.get("arguments", "")
    out.function.arguments = (
        arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()
    )
    if call.get("status"):
        out.status = chat_pb2.ToolCallStatus.Value(
            "TOOL_CALL_STATUS_" + str(call["status"]).upper()
        )
    if call.get("error_message"):
        out.error_message = call["error_message"]
    return out


def _proto_tool(tool: dict[str, Any]) -> chat_pb2.Tool:
    kind = tool.get("type")
    out = chat_pb2.Tool()
    if kind == "function":
        fn = tool.get("function") or {}
        out.function.name = fn.get("name", "")
        if fn.get("description"):
            out.function.description = fn["description"]
        if fn.get("strict"):
            out.function.strict = True
        out.function.parameters = orjson.dumps(fn.get("parameters") or {}).decode()
        return out
    field = SERVER_TOOL_FIELDS.get(kind) if isinstance(kind, str) else None
    if field is None:
        raise InvalidArgument(f"tools: unknown tool type {str(kind)[:50]!r}")
    rest = {k: v for k, v in tool.items() if k != "type"}
    target: ProtoMessage = getattr(out, field)
    generic_from_json(rest, target, f"tools.{kind}")
    target.SetInParent()
    return out


def _proto_tool_choice(value: Any) -> chat_pb2.ToolChoice:
    if isinstance(value, dict):
        return chat_pb2.ToolChoice(function_name=(value.get("function") or {}).get("name", ""))
    return chat_pb2.ToolChoice(mode=TOOL_MODE.number(value))


def _proto_format(value: dict[str, Any]) -> chat_pb2.ResponseFormat:
    out = chat_pb2.ResponseFormat(format_type=FORMAT.number(value.get("type")))
    if value.get("type") == "json_schema":
        spec = value.get("json_schema") or {}
        out.schema = orjson.dumps(spec.get("schema", spec)).decode()
    return out


def _fill_search(out: chat_pb2.SearchParameters, value: dict[str, Any]) -> None:
    out.SetInParent()
    for name, item in value.items():
        if name == "mode":
            out.mode = SEARCH_MODE.number(item)
        elif name == "sources":
            for source in item:
                kind = source.get("type")
                if kind not in ("web", "news", "x", "rss"):
                    raise InvalidArgument(f"search_parameters: unknown source {str(kind)[:50]!r}")
                rest = {k: v for k, v in source.items() if k != "type"}
                target = getattr(out.sources.add(), kind)
                generic_from_json(rest, target, f"search_parameters.sources.{kind}")
                target.SetInParent()
        elif name in ("from_date", "to_date"):
            getattr(out, name).CopyFrom(date_timestamp(item, f"search_parameters.{name}"))
        elif name in ("return_citations", "max_search_results"):
            setattr(out, name, item)
