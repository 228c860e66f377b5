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
and dates. :mod:`.chat_back` maps the other way; a request mapped to JSON and back is the same
proto.

>>> from xai_sdk.proto.v6 import chat_pb2
>>> req = chat_pb2.GetCompletionsRequest(model="grok-4.3", temperature=0.7, messages=[
...     chat_pb2.Message(role=chat_pb2.ROLE_USER, content=[chat_pb2.Content(text="hi")])])
>>> completion_to_json(req)
{'model': 'grok-4.3', 'messages': [{'role': 'user', 'content': 'hi'}], 'temperature': 0.7}
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import orjson
from xai_sdk.proto.v6 import chat_pb2, image_pb2

from batchframe.server.errors import InvalidArgument
from batchframe.server.grpc_front.chat_tables import (
    AGENTS,
    DETAIL,
    EFFORT,
    FLOATS,
    FORMAT,
    INCLUDE,
    ROLE_NAMES,
    ROLES,
    SEARCH_MODE,
    SERVER_TOOLS,
    TIER,
    TOOL_CALL_TYPE,
    TOOL_MODE,
)
from batchframe.server.grpc_front.wire import (
    f32,
    generic_to_json,
    timestamp_date,
)

__all__ = ["completion_to_json", "image_url_json"]


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
        elif name in FLOATS:
            out[name] = f32(value)
        else:
            out[name] = list(value) if name == "stop" else value
    return out


def _message(msg: chat_pb2.Message) -> dict[str, Any]:
    role = ROLE_NAMES.get(msg.role)
    if role is None:
        ROLES.text(msg.role)  # raises the 400
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
        out["detail"] = DETAIL.text(image.detail)
    return out


def _tool_call(call: chat_pb2.ToolCall) -> dict[str, Any]:
    out: dict[str, Any] = {"id": call.id, "type": "function"}
    if call.type and call.type != chat_pb2.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL:
        out["type"] = TOOL_CALL_TYPE.text(call.type)
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
    return {"type": SERVER_TOOLS[which], **generic_to_json(getattr(tool, which))}


def _tool_choice(choice: chat_pb2.ToolChoice) -> Any:
    if choice.WhichOneof("tool_choice") == "function_name":
        return {"type": "function", "function": {"name": choice.function_name}}
    return TOOL_MODE.text(choice.mode)


def _response_format(fmt: chat_pb2.ResponseFormat) -> dict[str, Any]:
    kind = FORMAT.text(fmt.format_type)
    if kind != "json_schema":
        return {"type": kind}
    schema = _json_text(fmt.schema, "response_format.schema")
    return {"type": kind, "json_schema": {"name": "response", "schema": schema}}


def _search(params: chat_pb2.SearchParameters) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, value in params.ListFields():
        name = field.name
        if name == "mode":
            out[name] = SEARCH_MODE.text(value)
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
    "reasoning_effort": EFFORT.text,
    "search_parameters": _search,
    "include": lambda value: [INCLUDE.text(v) for v in value],
    "agent_count": lambda value: int(AGENTS.text(value)),
    "service_tier": TIER.text,
    "guidelines": lambda value: [generic_to_json(g) for g in value],
}
