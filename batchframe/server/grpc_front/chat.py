"""Chat requests and results between the proto (``xai_api.GetCompletionsRequest`` and
``GetChatCompletionResponse``) and the REST body the store keeps (``chat_get_completion``).

Field by field: every scalar under its own name (``n``, ``max_tokens``, ``seed``, ``stop``,
``temperature``, ``top_p``, ``logprobs``, ``top_logprobs``, ``frequency_penalty``,
``presence_penalty``, ``parallel_tool_calls``, ``previous_response_id``, ``store_messages``,
``use_encrypted_content``, ``max_turns``, ``safety_identifier``, ``user``); enums as the REST
strings (``reasoning_effort: "high"``, roles, ``service_tier``, ``include``); messages with text,
``image_url`` and ``file`` parts, tool calls and tool results; ``tools`` (functions as
``{"type": "function", "function": {...}}`` with ``parameters`` as JSON, server-side tools as
``{"type": <tool>, ...its fields}``); ``tool_choice``; ``response_format`` (``text``,
``json_object``, ``json_schema`` with the schema as JSON); ``search_parameters`` with its sources
and dates. A request mapped to JSON and back is the same proto.

>>> from xai_sdk.proto.v6 import chat_pb2
>>> req = chat_pb2.GetCompletionsRequest(model="grok-4.3", temperature=0.7, messages=[
...     chat_pb2.Message(role=chat_pb2.ROLE_USER, content=[chat_pb2.Content(text="hi")])])
>>> completion_to_json(req)
{'model': 'grok-4.3', 'messages': [{'role': 'user', 'content': 'hi'}], 'temperature': 0.7}
>>> json_to_completion(completion_to_json(req)) == req
True
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf.message import Message as ProtoMessage
from xai_sdk.proto.v6 import chat_pb2, image_pb2, usage_pb2

from batchframe.server.errors import InvalidArgument
from batchframe.server.grpc_front.wire import (
    EnumMap,
    date_timestamp,
    f32,
    generic_from_json,
    generic_to_json,
    timestamp_date,
)

__all__ = ["completion_to_json", "json_to_completion"]

_ROLES = EnumMap(
    "role",
    {
        chat_pb2.ROLE_USER: "user",
        chat_pb2.ROLE_ASSISTANT: "assistant",
        chat_pb2.ROLE_SYSTEM: "system",
        chat_pb2.ROLE_FUNCTION: "function",
        chat_pb2.ROLE_TOOL: "tool",
        chat_pb2.ROLE_DEVELOPER: "developer",
    },
)
_ROLE_NAMES = _ROLES.to_text
_EFFORT = EnumMap(
    "reasoning_effort",
    {
        chat_pb2.EFFORT_NONE: "none",
        chat_pb2.EFFORT_LOW: "low",
        chat_pb2.EFFORT_MEDIUM: "medium",
        chat_pb2.EFFORT_HIGH: "high",
        chat_pb2.EFFORT_XHIGH: "xhigh",
    },
)
_DETAIL = EnumMap(
    "detail",
    {image_pb2.DETAIL_AUTO: "auto", image_pb2.DETAIL_LOW: "low", image_pb2.DETAIL_HIGH: "high"},
)
_TOOL_MODE = EnumMap(
    "tool_choice",
    {
        chat_pb2.TOOL_MODE_AUTO: "auto",
        chat_pb2.TOOL_MODE_NONE: "none",
        chat_pb2.TOOL_MODE_REQUIRED: "required",
    },
)
_FORMAT = EnumMap(
    "response_format.type",
    {
        chat_pb2.FORMAT_TYPE_TEXT: "text",
        chat_pb2.FORMAT_TYPE_JSON_OBJECT: "json_object",
        chat_pb2.FORMAT_TYPE_JSON_SCHEMA: "json_schema",
    },
)
_SEARCH_MODE = EnumMap(
    "search_parameters.mode",
    {
        chat_pb2.OFF_SEARCH_MODE: "off",
        chat_pb2.ON_SEARCH_MODE: "on",
        chat_pb2.AUTO_SEARCH_MODE: "auto",
    },
)
_TIER = EnumMap(
    "service_tier",
    {usage_pb2.SERVICE_TIER_DEFAULT: "default", usage_pb2.SERVICE_TIER_PRIORITY: "priority"},
)
_AGENTS = EnumMap("agent_count", {chat_pb2.AGENT_COUNT_4: "4", chat_pb2.AGENT_COUNT_16: "16"})
_INCLUDE = EnumMap(
    "include",
    {
        value: name[len("INCLUDE_OPTION_") :].lower()
        for name, value in chat_pb2.IncludeOption.items()
        if value != chat_pb2.INCLUDE_OPTION_INVALID
    },
)
_TOOL_CALL_TYPE = EnumMap(
    "tool_calls.type",
    {
        value: name[len("TOOL_CALL_TYPE_") :].lower()
        for name, value in chat_pb2.ToolCallType.items()
        if value != chat_pb2.TOOL_CALL_TYPE_INVALID
    },
)
# Server-side tools by their REST (Responses API) names; functions are handled on their own.
_SERVER_TOOLS = {
    "web_search": "web_search",
    "x_search": "x_search",
    "code_execution": "code_interpreter",
    "collections_search": "file_search",
    "mcp": "mcp",
    "attachment_search": "attachment_search",
    "image_generation": "image_generation",
}
_SERVER_TOOL_FIELDS = {rest: proto for proto, rest in _SERVER_TOOLS.items()}
# Scalars kept under their own name; float32 ones read back as the shortest decimal.
_SCALARS = (
    "n",
    "max_tokens",
    "seed",
    "temperature",
    "top_p",
    "logprobs",
    "top_logprobs",
    "frequency_penalty",
    "presence_penalty",
    "parallel_tool_calls",
    "previous_response_id",
    "store_messages",
    "use_encrypted_content",
    "max_turns",
    "safety_identifier",
    "user",
)
_FLOATS = frozenset({"temperature", "top_p", "frequency_penalty", "presence_penalty"})


# -- proto -> REST ---------------------------------------------------------------------------------


def completion_to_json(req: chat_pb2.GetCompletionsRequest) -> dict[str, Any]:
    """The ``chat_get_completion`` REST body of a proto chat request (only the fields set)."""
    out: dict[str, Any] = {"model": req.model, "messages": []}
    for field, value in req.ListFields():
        name = field.name
        if name == "messages":  # first, and the one every request has: the hot path
            out[name] = [_message(m) for m in value]
            continue
        if name == "model":
            continue
        handler = _TO_JSON.get(name)
        if handler is not None:
            out[name] = handler(value)
        elif name in _FLOATS:
            out[name] = f32(value)
        else:
            out[name] = list(value) if name == "stop" else value
    return out


def _message(msg: chat_pb2.Message) -> dict[str, Any]:
    role = _ROLE_NAMES.get(msg.role)
    if role is None:
        _ROLES.text(msg.role)  # raises the 400
    content = msg.content  # none at all (a tool-call turn) leaves "content" out
    fields = msg.ListFields()
    if len(fields) == 2 and len(content) == 1:  # a role and one part: the usual message
        part = content[0]
        if part.WhichOneof("content") == "text":
            return {"role": role, "content": part.text}
    out: dict[str, Any] = {"role": role}
    if len(content) == 1 and content[0].WhichOneof("content") == "text":
        out["content"] = content[0].text
    elif content:
        out["content"] = [_part(part) for part in content]
    for field, value in fields:
        name = field.name
        if name == "tool_calls":
            out[name] = [_tool_call(call) for call in value]
        elif name not in ("role", "content"):
            out[name] = value
    return out


def _part(part: chat_pb2.Content) -> dict[str, Any]:
    which = part.WhichOneof("content")
    if which == "text":
        return {"type": "text", "text": part.text}
    if which == "image_url":
        return {"type": "image_url", "image_url": image_url_json(part.image_url)}
    if which == "file":
        file: dict[str, Any] = {}
        for field, value in part.file.ListFields():
            if field.name == "data":
                file["file_data"] = base64.b64encode(value).decode()
            else:
                file[field.name] = value
        return {"type": "file", "file": file}
    raise InvalidArgument("messages: a content part has none of text, image_url, file")


def image_url_json(image: image_pb2.ImageUrlContent) -> dict[str, Any]:
    out: dict[str, Any] = {}
    which = image.WhichOneof("source")
    if which == "image_url":
        out["url"] = image.image_url
    elif which == "file_id":
        out["file_id"] = image.file_id
    if image.detail:
        out["detail"] = _DETAIL.text(image.detail)
    return out


def _tool_call(call: chat_pb2.ToolCall) -> dict[str, Any]:
    out: dict[str, Any] = {"id": call.id, "type": "function"}
    if call.type and call.type != chat_pb2.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL:
        out["type"] = _TOOL_CALL_TYPE.text(call.type)
    out["function"] = {"name": call.function.name, "arguments": call.function.arguments}
    if call.status:
        out["status"] = chat_pb2.ToolCallStatus.Name(call.status)[
            len("TOOL_CALL_STATUS_") :
        ].lower()
    if call.error_message:
        out["error_message"] = call.error_message
    return out


def _tool(tool: chat_pb2.Tool) -> dict[str, Any]:
    which = tool.WhichOneof("tool")
    if which == "function":
        fn = tool.function
        function: dict[str, Any] = {"name": fn.name}
        if fn.description:
            function["description"] = fn.description
        function["parameters"] = _json_text(fn.parameters, "tools.function.parameters")
        if fn.strict:
            function["strict"] = True
        return {"type": "function", "function": function}
    if which is None:
        raise InvalidArgument("tools: a tool has no kind set")
    return {"type": _SERVER_TOOLS[which], **generic_to_json(getattr(tool, which))}


def _tool_choice(choice: chat_pb2.ToolChoice) -> Any:
    if choice.WhichOneof("tool_choice") == "function_name":
        return {"type": "function", "function": {"name": choice.function_name}}
    return _TOOL_MODE.text(choice.mode)


def _response_format(fmt: chat_pb2.ResponseFormat) -> dict[str, Any]:
    kind = _FORMAT.text(fmt.format_type)
    if kind != "json_schema":
        return {"type": kind}
    schema = _json_text(fmt.schema, "response_format.schema")
    return {"type": kind, "json_schema": {"name": "response", "schema": schema}}


def _search(params: chat_pb2.SearchParameters) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, value in params.ListFields():
        name = field.name
        if name == "mode":
            out[name] = _SEARCH_MODE.text(value)
        elif name == "sources":
            out[name] = [_source(source) for source in value]
        elif name in ("from_date", "to_date"):
            out[name] = timestamp_date(value)
        else:
            out[name] = value
    return out


def _source(source: chat_pb2.Source) -> dict[str, Any]:
    which = source.WhichOneof("source")
    if which is None:
        raise InvalidArgument("search_parameters.sources: a source has no kind set")
    return {"type": which, **generic_to_json(getattr(source, which))}


def _json_text(text: str, field: str) -> Any:
    if not text:
        return {}
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidArgument(f"{field} is not valid JSON") from None


_TO_JSON: dict[str, Callable[[Any], Any]] = {
    "tools": lambda value: [_tool(t) for t in value],
    "tool_choice": _tool_choice,
    "response_format": _response_format,
    "reasoning_effort": _EFFORT.text,
    "search_parameters": _search,
    "include": lambda value: [_INCLUDE.text(v) for v in value],
    "agent_count": lambda value: int(_AGENTS.text(value)),
    "service_tier": _TIER.text,
    "guidelines": lambda value: [generic_to_json(g) for g in value],
}


# -- REST -> proto ---------------------------------------------------------------------------------


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
        elif name in _SCALARS:
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
            req.reasoning_effort = _EFFORT.number(value)
        elif name == "search_parameters":
            _fill_search(req.search_parameters, value)
        elif name == "include":
            req.include.extend(_INCLUDE.number(v) for v in value)
        elif name == "agent_count":
            req.agent_count = _AGENTS.number(str(value))
        elif name == "service_tier":
            req.service_tier = _TIER.number(value)
        elif name == "guidelines":
            for item in value:
                generic_from_json(item, req.guidelines.add(), "guidelines")


def _proto_message(value: dict[str, Any]) -> chat_pb2.Message:
    msg = chat_pb2.Message(role=_ROLES.number(value.get("role", "user")))
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
        image.detail = _DETAIL.number(value["detail"])
    return image


def _proto_tool_call(call: dict[str, Any]) -> chat_pb2.ToolCall:
    out = chat_pb2.ToolCall(id=call.get("id", ""))
    kind = call.get("type", "function")
    out.type = (
        chat_pb2.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL
        if kind == "function"
        else _TOOL_CALL_TYPE.number(kind)
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
    field = _SERVER_TOOL_FIELDS.get(kind) if isinstance(kind, str) else None
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
    return chat_pb2.ToolChoice(mode=_TOOL_MODE.number(value))


def _proto_format(value: dict[str, Any]) -> chat_pb2.ResponseFormat:
    out = chat_pb2.ResponseFormat(format_type=_FORMAT.number(value.get("type")))
    if value.get("type") == "json_schema":
        spec = value.get("json_schema") or {}
        out.schema = orjson.dumps(spec.get("schema", spec)).decode()
    return out


def _fill_search(out: chat_pb2.SearchParameters, value: dict[str, Any]) -> None:
    out.SetInParent()
    for name, item in value.items():
        if name == "mode":
            out.mode = _SEARCH_MODE.number(item)
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
