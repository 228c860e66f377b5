"""Stored result items (REST JSON) as ``xai_api.BatchResult`` protos.

A success becomes ``response.completion_response`` (a ``chat.completion``: each choice an output
with its assistant message, finish reason, tool calls; usage with ``cost_in_usd_ticks``),
``response.image_response`` or ``response.video_response``. A failure becomes ``error``, a
``google.rpc.Status`` with a non-zero code (the SDK counts ``error.code != 0`` as failed): 1
(CANCELLED) for "Batch cancelled", 2 (UNKNOWN) otherwise (REST gives only the message).

>>> item = b'{"batch_request_id":"a","batch_result":{"error":"Batch cancelled"}}'
>>> result = result_proto(item)
>>> result.batch_request_id, result.error.code, result.error.message
('a', 1, 'Batch cancelled')
"""

from __future__ import annotations

from typing import Any

import orjson
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import status_pb2
from xai_sdk.proto.v6 import batch_pb2, chat_pb2, image_pb2, sample_pb2, usage_pb2, video_pb2

from batchframe.models import error_text

__all__ = ["FINISH_REASONS", "completion_response", "result_proto"]

_CANCELLED, _UNKNOWN = 1, 2
FINISH_REASONS = {
    "stop": sample_pb2.REASON_STOP,
    "length": sample_pb2.REASON_MAX_LEN,
    "tool_calls": sample_pb2.REASON_TOOL_CALLS,
    "function_call": sample_pb2.REASON_TOOL_CALLS,
    "content_filter": sample_pb2.REASON_STOP,
    "max_context": sample_pb2.REASON_MAX_CONTEXT,
    "time_limit": sample_pb2.REASON_TIME_LIMIT,
}
_ROLE = {
    "assistant": chat_pb2.ROLE_ASSISTANT,
    "tool": chat_pb2.ROLE_TOOL,
    "user": chat_pb2.ROLE_USER,
    "system": chat_pb2.ROLE_SYSTEM,
}
_MAX_INT32 = 2**31 - 1


def result_proto(item: bytes) -> batch_pb2.BatchResult:
    """One stored result item as a proto; a value the proto cannot hold is an error row."""
    data = orjson.loads(item)
    rid = str(data.get("batch_request_id", ""))
    result = data.get("batch_result") or {}
    response = result.get("response") if isinstance(result, dict) else None
    if not isinstance(response, dict) or not response:
        message = error_text(result.get("error") if isinstance(result, dict) else result)
        code = _CANCELLED if message == "Batch cancelled" else _UNKNOWN
        return batch_pb2.BatchResult(
            batch_request_id=rid, error=status_pb2.Status(code=code, message=message)
        )
    key, body = next(iter(response.items()))
    try:
        if key == "image_generation":
            data_ = batch_pb2.BatchResultData(image_response=image_response(body))
        elif key == "video_generation":
            data_ = batch_pb2.BatchResultData(video_response=video_response(body))
        else:
            data_ = batch_pb2.BatchResultData(completion_response=completion_response(body))
    except (TypeError, ValueError, AttributeError) as exc:
        message = f"The result cannot be represented in the gRPC response: {exc}"
        return batch_pb2.BatchResult(
            batch_request_id=rid, error=status_pb2.Status(code=_UNKNOWN, message=message)
        )
    return batch_pb2.BatchResult(batch_request_id=rid, response=data_)


def completion_response(body: dict[str, Any]) -> chat_pb2.GetChatCompletionResponse:
    out = chat_pb2.GetChatCompletionResponse(
        id=str(body.get("id", "")),
        model=str(body.get("model", "")),
        system_fingerprint=str(body.get("system_fingerprint") or ""),
        created=Timestamp(seconds=int(body.get("created") or 0)),
    )
    for position, choice in enumerate(body.get("choices") or ()):
        out.outputs.append(_output(position, choice))
    usage = body.get("usage")
    if isinstance(usage, dict):
        out.usage.CopyFrom(_usage(usage))
    citations = body.get("citations")
    if isinstance(citations, list):
        out.citations.extend(str(c) for c in citations)
    return out


def _output(position: int, choice: dict[str, Any]) -> chat_pb2.CompletionOutput:
    message = choice.get("message") or {}
    out = chat_pb2.CompletionOutput(
        index=int(choice.get("index", position)),
        finish_reason=FINISH_REASONS.get(
            choice.get("finish_reason") or "", sample_pb2.REASON_INVALID
        ),
    )
    msg = out.message
    msg.role = _ROLE.get(message.get("role", "assistant"), chat_pb2.ROLE_ASSISTANT)
    if isinstance(message.get("content"), str):
        msg.content = message["content"]
    if isinstance(message.get("reasoning_content"), str):
        msg.reasoning_content = message["reasoning_content"]
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        arguments = function.get("arguments", "")
        msg.tool_calls.add(
            id=str(call.get("id", "")),
            type=chat_pb2.TOOL_CALL_TYPE_CLIENT_SIDE_TOOL,
            function=chat_pb2.FunctionCall(
                name=str(function.get("name", "")),
                arguments=arguments
                if isinstance(arguments, str)
                else orjson.dumps(arguments).decode(),
            ),
        )
    return out


def _usage(usage: dict[str, Any]) -> usage_pb2.SamplingUsage:
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    out = usage_pb2.SamplingUsage(
        completion_tokens=_int32(usage.get("completion_tokens")),
        reasoning_tokens=_int32(completion.get("reasoning_tokens")),
        prompt_tokens=_int32(usage.get("prompt_tokens")),
        total_tokens=_int32(usage.get("total_tokens")),
        prompt_text_tokens=_int32(prompt.get("text_tokens")),
        cached_prompt_text_tokens=_int32(prompt.get("cached_tokens")),
        prompt_image_tokens=_int32(prompt.get("image_tokens")),
        num_sources_used=_int32(usage.get("num_sources_used")),
    )
    ticks = usage.get("cost_in_usd_ticks")
    if ticks is not None:
        out.cost_in_usd_ticks = int(ticks)
    return out


def _int32(value: Any) -> int:
    if value is None:
        return 0
    number = int(value)
    if not 0 <= number <= _MAX_INT32:
        raise ValueError(f"token count {number} is outside int32")
    return number


def _media_usage(body: dict[str, Any]) -> usage_pb2.SamplingUsage:
    usage = body.get("usage") or {}
    out = usage_pb2.SamplingUsage()
    if usage.get("cost_in_usd_ticks") is not None:
        out.cost_in_usd_ticks = int(usage["cost_in_usd_ticks"])
    return out


def image_response(body: dict[str, Any]) -> image_pb2.ImageResponse:
    out = image_pb2.ImageResponse(model=str(body.get("model", "")), usage=_media_usage(body))
    for image in body.get("data") or ():
        generated = out.images.add(respect_moderation=bool(image.get("respect_moderation", True)))
        if image.get("b64_json"):  # url and base64 are one oneof
            generated.base64 = str(image["b64_json"])
        else:
            generated.url = str(image.get("url") or "")
    return out


def video_response(body: dict[str, Any]) -> video_pb2.VideoResponse:
    video = body.get("video") or {}
    return video_pb2.VideoResponse(
        model=str(body.get("model", "")),
        usage=_media_usage(body),
        video=video_pb2.GeneratedVideo(
            url=str(video.get("url") or ""),
            duration=int(video.get("duration") or 0),
            respect_moderation=bool(video.get("respect_moderation", True)),
        ),
    )
