"""Batch requests between ``xai_api.BatchRequest`` and the stored REST form (kind + JSON body).

``completion_request`` is ``chat_get_completion`` (see :mod:`.chat`); ``image_request`` is
``image_generation``, or ``image_edit`` when it carries a source image; ``video_request`` is
``video_generation``; ``video_extension_request`` is ``video_extension``. Stored ``responses``
bodies come back as a ``completion_request`` (``input`` read as the messages).

>>> from xai_sdk.proto.v6 import batch_pb2, image_pb2
>>> item = batch_pb2.BatchRequest(batch_request_id="a", image_request=image_pb2.GenerateImageRequest(
...     model="grok-imagine-image", prompt="a cat"))
>>> rid, kind, model, canon = to_stored(item)
>>> kind, canon
('image_generation', b'{"image_generation":{"prompt":"a cat","model":"grok-imagine-image"}}')
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from xai_sdk.proto.v6 import batch_pb2, image_pb2, video_pb2

from batchframe.server.admission import MAX_REQUEST_ID
from batchframe.server.errors import InvalidArgument
from batchframe.server.grpc_front.chat import completion_to_json, image_url_json
from batchframe.server.grpc_front.chat_back import json_to_completion, proto_image_url
from batchframe.server.grpc_front.wire import EnumMap, generic_from_json, generic_to_json
from batchframe.server.store_protocol import NewRequest

__all__ = ["from_stored", "to_stored"]

_IMAGE_FORMAT = EnumMap(
    "format", {image_pb2.IMG_FORMAT_BASE64: "b64_json", image_pb2.IMG_FORMAT_URL: "url"}
)
_QUALITY = EnumMap(
    "quality",
    {
        image_pb2.IMG_QUALITY_LOW: "low",
        image_pb2.IMG_QUALITY_MEDIUM: "medium",
        image_pb2.IMG_QUALITY_HIGH: "high",
    },
)


def _ratio_name(name: str, prefix: str) -> str:
    text = name[len(prefix) :].lower()
    return text if text == "auto" else text.replace("_5", ".5").replace("_", ":")


_IMAGE_RATIO = EnumMap(
    "aspect_ratio",
    {
        v: _ratio_name(n, "IMG_ASPECT_RATIO_")
        for n, v in image_pb2.ImageAspectRatio.items()
        if v != image_pb2.IMG_ASPECT_RATIO_INVALID
    },
)
_IMAGE_RESOLUTION = EnumMap(
    "resolution", {image_pb2.IMG_RESOLUTION_1K: "1k", image_pb2.IMG_RESOLUTION_2K: "2k"}
)
_VIDEO_RATIO = EnumMap(
    "aspect_ratio",
    {
        v: _ratio_name(n, "VIDEO_ASPECT_RATIO_")
        for n, v in video_pb2.VideoAspectRatio.items()
        if v != video_pb2.VIDEO_ASPECT_RATIO_UNSPECIFIED
    },
)
_VIDEO_RESOLUTION = EnumMap(
    "resolution",
    {
        v: n[len("VIDEO_RESOLUTION_") :].lower()
        for n, v in video_pb2.VideoResolution.items()
        if v != video_pb2.VIDEO_RESOLUTION_UNSPECIFIED
    },
)
_ENUMS = {
    "format": _IMAGE_FORMAT,
    "quality": _QUALITY,
    "resolution": _IMAGE_RESOLUTION,
    "aspect_ratio": _IMAGE_RATIO,
}
_VIDEO_ENUMS = {"aspect_ratio": _VIDEO_RATIO, "resolution": _VIDEO_RESOLUTION}
_IMAGES = frozenset({"image", "last_frame"})
_IMAGE_LISTS = frozenset({"images", "reference_images"})


def to_stored(item: batch_pb2.BatchRequest, index: int = 0) -> NewRequest:
    """(batch_request_id, kind, model, canonical JSON) of one proto request, or a 400."""
    rid = item.batch_request_id
    if rid or item.HasField("batch_request_id"):
        if not rid or len(rid) > MAX_REQUEST_ID or "\x00" in rid:
            raise InvalidArgument(
                f"batch_requests[{index}]: batch_request_id must be 1 to {MAX_REQUEST_ID}"
                " characters, without NUL"
            )
    else:
        rid = f"batch_request_{uuid.uuid4()}"
    which = item.WhichOneof("request")
    if which == "completion_request":
        kind, body = "chat_get_completion", completion_to_json(item.completion_request)
    elif which == "image_request":
        body = _media_json(item.image_request, _ENUMS)
        kind = "image_edit" if "image" in body or "images" in body else "image_generation"
    elif which == "video_request":
        kind, body = "video_generation", _media_json(item.video_request, _VIDEO_ENUMS)
    elif which == "video_extension_request":
        kind, body = "video_extension", _media_json(item.video_extension_request, _VIDEO_ENUMS)
    else:
        raise InvalidArgument(f"batch_requests[{index}]: the request has no kind set")
    model = body.get("model")
    if not model or not isinstance(model, str) or (model[0].isspace() and not model.strip()):
        raise InvalidArgument(f"batch_requests[{index}]: model must be given and not empty")
    return rid, kind, model, orjson.dumps({kind: body})


def _media_json(message: Any, enums: dict[str, EnumMap]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        name = field.name
        key = "response_format" if name == "format" else name
        if name in enums:
            out[key] = enums[name].text(value)
        elif name in _IMAGES:
            out[key] = {**image_url_json(value), "type": "image_url"}
        elif name in _IMAGE_LISTS:
            out[key] = [{**image_url_json(v), "type": "image_url"} for v in value]
        elif name == "video":
            out[key] = generic_to_json(value)
        elif field.message_type is not None:
            out[key] = (
                [generic_to_json(v) for v in value] if field.is_repeated else generic_to_json(value)
            )
        else:
            out[key] = value
    return out


def from_stored(rid: str, kind: str, canon: bytes) -> batch_pb2.BatchRequest:
    """The proto of a stored request (for ``GetBatchRequestResult``); a 400 if it has no form."""
    try:
        body = orjson.loads(canon)[kind]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise InvalidArgument(f"request {rid[:200]!r} cannot be read back") from None
    item = batch_pb2.BatchRequest(batch_request_id=rid)
    if kind == "responses":
        body = _responses_as_chat(body)
    if kind in ("chat_get_completion", "responses"):
        item.completion_request.CopyFrom(json_to_completion(body))
    elif kind in ("image_generation", "image_edit"):
        _fill_media(item.image_request, body, _ENUMS)
    elif kind == "video_generation":
        _fill_media(item.video_request, body, _VIDEO_ENUMS)
    elif kind == "video_extension":
        _fill_media(item.video_extension_request, body, _VIDEO_ENUMS)
    return item


def _responses_as_chat(body: dict[str, Any]) -> dict[str, Any]:
    raw = body.get("input")
    messages = [{"role": "user", "content": raw}] if isinstance(raw, str) else list(raw or [])
    if isinstance(body.get("instructions"), str):
        messages.insert(0, {"role": "system", "content": body["instructions"]})
    out = {k: v for k, v in body.items() if k not in ("input", "instructions")}
    if "max_output_tokens" in out:
        out["max_tokens"] = out.pop("max_output_tokens")
    return {**out, "messages": [m for m in messages if isinstance(m, dict)]}


def _fill_media(message: Any, body: dict[str, Any], enums: dict[str, EnumMap]) -> None:
    descriptor = message.DESCRIPTOR.fields_by_name
    try:
        for key, value in body.items():
            name = "format" if key == "response_format" else key
            field = descriptor.get(name)
            if field is None or value is None:
                continue
            if name in enums:
                setattr(message, name, enums[name].number(value))
            elif name in _IMAGES:
                getattr(message, name).CopyFrom(proto_image_url(value))
            elif name in _IMAGE_LISTS:
                getattr(message, name).extend(proto_image_url(v) for v in value)
            elif field.message_type is not None:
                if field.is_repeated:
                    for v in value:
                        generic_from_json(v, getattr(message, name).add(), name)
                else:
                    generic_from_json(value, getattr(message, name), name)
            else:
                setattr(message, name, value)
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidArgument(f"request cannot be represented as a proto: {exc}") from None
