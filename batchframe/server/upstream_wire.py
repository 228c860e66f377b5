"""xAI batch requests to OpenAI-compatible ``/chat/completions`` calls and back (no I/O).

What is sent (see docs/guides/own-model.md):

- a ``chat_get_completion`` body keeps the fields in :data:`PASSED_FIELDS`; ``max_tokens`` or
  ``max_completion_tokens`` is sent as ``max_tokens`` (the name every such server reads); every
  other field (``search_parameters``, ``web_search_options``, ``reasoning_effort``, ``deferred``,
  ``stream``, ``stream_options``, ...) is dropped. ``stream`` is never sent.
- a ``responses`` body becomes the equivalent chat body (``instructions`` as a system message,
  ``input`` as messages, ``max_output_tokens``, ``text.format`` as ``response_format``).
- ``model`` goes through the model map (``*`` maps every model not named).

What is stored: the upstream's ``chat.completion`` in xAI's result shape, its usage with xAI's
meaning (``completion_tokens`` without reasoning tokens) and ``cost_in_usd_ticks`` from the
model's price (:func:`batchframe.server.prices.upstream_price`: 0 unless priced).

>>> upstream_body("chat_get_completion", {"model": "grok-4.3", "stream": True, "max_completion_tokens": 5,
...     "messages": [{"role": "user", "content": "hi"}]}, {"grok-4.3": "gemma"})
b'{"model":"gemma","messages":[{"role":"user","content":"hi"}],"max_tokens":5}'
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from batchframe.server.prices import ModelPrice, text_cost_ticks

__all__ = [
    "PASSED_FIELDS",
    "UpstreamError",
    "answer_item",
    "check_upstream_url",
    "error_item",
    "error_message",
    "parse_model_map",
    "parse_prices",
    "read_completion",
    "upstream_body",
]

#: Chat-completion fields sent to the upstream as given.
PASSED_FIELDS = (
    "messages",
    "temperature",
    "top_p",
    "n",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "response_format",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "user",
)
_TEXT_PART = {"input_text", "output_text", "text"}
_SNIPPET = 300


class UpstreamError(Exception):
    """This request fails with this message (the upstream's own where it gave one)."""


# -- settings ----------------------------------------------------------------------------------


def check_upstream_url(url: str) -> str:
    """The upstream base URL without a trailing slash; anything but http(s) with a host is a
    ``ValueError``.

    >>> check_upstream_url("http://127.0.0.1:8080/v1/")
    'http://127.0.0.1:8080/v1'
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"upstream must be an http:// or https:// URL with a host, such as "
            f"http://127.0.0.1:8080/v1 (got {url[:200]!r})"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"upstream must not have a query or fragment (got {url[:200]!r})")
    return url.strip().rstrip("/")


def _pairs(text: str, what: str) -> list[tuple[str, str]]:
    if not text.strip(" ,"):
        raise ValueError(f"{what} names nothing: give at least one NAME=VALUE pair")
    pairs = []
    for entry in text.split(","):
        name, sep, value = entry.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ValueError(f"{what}: {entry.strip()!r} is not NAME=VALUE (in {text[:200]!r})")
        pairs.append((name, value))
    return pairs


def parse_model_map(text: str | Mapping[str, str]) -> dict[str, str]:
    """``"grok-4.3=gemma-3-270m,*=other"`` (or a dict) -> request model -> upstream model.

    >>> parse_model_map("grok-4.3=gemma-3-270m, *=qwen")
    {'grok-4.3': 'gemma-3-270m', '*': 'qwen'}
    """
    pairs = _pairs(text, "model map") if isinstance(text, str) else list(text.items())
    if not pairs:
        raise ValueError("model map names nothing: give at least one A=B pair")
    out: dict[str, str] = {}
    for name, value in pairs:
        if not isinstance(name, str) or not isinstance(value, str) or not name or not value:
            raise ValueError(f"model map: {name!r}={value!r} must be two non-empty names")
        if name in out:
            raise ValueError(f"model map names {name!r} twice")
        out[name] = value
    return out


def parse_prices(text: str | Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """``"grok-4.3=0.10/0.40"``: USD per million prompt / completion tokens, by request model.

    >>> parse_prices("grok-4.3=0.10/0.40")
    {'grok-4.3': (0.1, 0.4)}
    """
    pairs = _pairs(text, "upstream price") if isinstance(text, str) else list(text.items())
    out: dict[str, tuple[float, float]] = {}
    for name, value in pairs:
        try:
            if isinstance(value, str):
                prompt, _, completion = value.partition("/")
                price = (float(prompt), float(completion or prompt))
            else:
                price = (float(value[0]), float(value[1]))
        except (TypeError, ValueError, IndexError):
            raise ValueError(
                f"upstream price for {name!r} must be IN/OUT in USD per million tokens, "
                f"such as 0.10/0.40 (got {value!r})"
            ) from None
        if not all(p >= 0 and p == p and p != float("inf") for p in price):
            raise ValueError(f"upstream price for {name!r} must be finite and >= 0")
        out[str(name)] = price
    return out


# -- requests ----------------------------------------------------------------------------------


def upstream_body(
    kind: str,
    body: Any,
    model_map: Mapping[str, str],
    *,
    schema_as_json_object: bool = False,
) -> bytes:
    """The ``/chat/completions`` JSON for one request; :class:`UpstreamError` if it has none.

    ``schema_as_json_object`` sends a JSON schema as ``{"type": "json_object", "schema": ...}``
    (llama-cpp-python's server knows only that form).
    """
    if not isinstance(body, dict):
        raise UpstreamError("The request body could not be read as a JSON object")
    if kind == "responses":
        body = _chat_from_responses(body)
    elif kind != "chat_get_completion":
        raise UpstreamError(
            f"Request kind {kind} is not supported by an OpenAI-compatible upstream "
            "(only chat_get_completion and responses are)"
        )
    model = body.get("model")
    if not isinstance(model, str):
        raise UpstreamError("The request has no model")
    out: dict[str, Any] = {"model": model_map.get(model, model_map.get("*", model))}
    for name in PASSED_FIELDS:
        if body.get(name) is not None:
            out[name] = body[name]
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None:
        out["max_tokens"] = limit
    fmt = out.get("response_format")
    if schema_as_json_object and isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        out["response_format"] = {"type": "json_object", "schema": schema or {}}
    return orjson.dumps(out)


def _chat_from_responses(body: dict[str, Any]) -> dict[str, Any]:
    """A ``responses`` body as the chat body that asks the same."""
    messages: list[Any] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    raw = body.get("input")
    if isinstance(raw, str):
        messages.append({"role": "user", "content": raw})
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict) and "role" in item:
                messages.append(
                    {"role": item["role"], "content": _chat_content(item.get("content"))}
                )
    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    for name in ("temperature", "top_p", "seed", "user", "tools", "tool_choice"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    fmt = body.get("text", {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        spec = {k: fmt[k] for k in ("name", "schema", "strict") if k in fmt}
        chat["response_format"] = {"type": "json_schema", "json_schema": spec}
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    return chat


def _chat_content(content: Any) -> Any:
    if not isinstance(content, list):
        return content
    parts: list[Any] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") in _TEXT_PART and isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif part.get("type") == "input_image" and part.get("image_url"):
            parts.append({"type": "image_url", "image_url": {"url": part["image_url"]}})
        else:
            parts.append(part)
    return parts


# -- answers -----------------------------------------------------------------------------------


def _snippet(raw: bytes) -> str:
    text = raw[: _SNIPPET * 4].decode("utf-8", "replace")
    text = re.sub(r"\s+", " ", text).strip()
    return text[:_SNIPPET] + ("..." if len(text) > _SNIPPET or len(raw) > _SNIPPET * 4 else "")


def error_message(status: int, raw: bytes) -> str:
    """The upstream's own message for an error status, as the failed row's error.

    >>> error_message(400, b'{"error": {"message": "bad temperature"}}')
    'Upstream error 400: bad temperature'
    """
    message: Any = None
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        error = parsed.get("error", parsed.get("detail", parsed.get("message")))
        message = error.get("message", error) if isinstance(error, dict) else error
    if not isinstance(message, str) or not message.strip():
        message = _snippet(raw) if message is None else orjson.dumps(message).decode()[:_SNIPPET]
    return f"Upstream error {status}: {message.strip() or '(empty body)'}"


def read_completion(status: int, content_type: str, raw: bytes) -> dict[str, Any]:
    """The upstream's ``chat.completion`` from a 2xx answer; :class:`UpstreamError` if it is
    not one."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "text/event-stream":
        raise UpstreamError(
            "The upstream streamed its answer (text/event-stream) though stream was not requested"
        )
    try:
        completion = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamError(
            f"The upstream answered {status} with a body that is not JSON "
            f"({kind or 'no content type'}): {_snippet(raw) or '(empty body)'}"
        ) from None
    choices = completion.get("choices") if isinstance(completion, dict) else None
    if not isinstance(choices, list) or not choices:
        raise UpstreamError(f"The upstream's answer has no choices: {_snippet(raw)}")
    if not all(isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices):
        raise UpstreamError(
            f"The upstream's answer has a choice without a message: {_snippet(raw)}"
        )
    assert isinstance(completion, dict)
    return completion


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _usage(usage: Any, price: ModelPrice) -> dict[str, Any] | None:
    """xAI's usage from an OpenAI one: ``completion_tokens`` counts no reasoning tokens."""
    if not isinstance(usage, dict):
        return None
    prompt = _int(usage.get("prompt_tokens"))
    details = usage.get("completion_tokens_details")
    reasoning = _int(details.get("reasoning_tokens")) if isinstance(details, dict) else 0
    completion = max(0, _int(usage.get("completion_tokens")) - reasoning)
    cached_in = usage.get("prompt_tokens_details")
    cached = _int(cached_in.get("cached_tokens")) if isinstance(cached_in, dict) else 0
    ticks = text_cost_ticks(price, prompt_tokens=prompt, output_tokens=completion + reasoning)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion + reasoning,
        "prompt_tokens_details": {
            "text_tokens": prompt,
            "audio_tokens": 0,
            "image_tokens": 0,
            "cached_tokens": cached,
        },
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
        "num_sources_used": 0,
        "cost_in_usd_ticks": ticks,
    }


def _choice(index: int, choice: dict[str, Any]) -> dict[str, Any]:
    message = choice["message"]
    out_message: dict[str, Any] = {
        "role": "assistant",
        "content": message.get("content"),
        "refusal": message.get("refusal"),
    }
    for name in ("reasoning_content", "tool_calls"):
        if message.get(name) is not None:
            out_message[name] = message[name]
    return {
        "index": choice["index"] if isinstance(choice.get("index"), int) else index,
        "message": out_message,
        "finish_reason": choice.get("finish_reason"),
    }


def answer_item(rid: str, completion: dict[str, Any], price: ModelPrice) -> bytes:
    """The stored result item for a request the upstream answered."""
    answer: dict[str, Any] = {
        "id": str(completion.get("id") or uuid.uuid4()),
        "object": "chat.completion",
        "created": _int(completion.get("created")) or int(time.time()),
        "model": str(completion.get("model") or ""),
        "choices": [_choice(i, c) for i, c in enumerate(completion["choices"])],
    }
    usage = _usage(completion.get("usage"), price)
    if usage is not None:
        answer["usage"] = usage
    if isinstance(completion.get("system_fingerprint"), str):
        answer["system_fingerprint"] = completion["system_fingerprint"]
    return orjson.dumps(
        {"batch_request_id": rid, "batch_result": {"response": {"chat_get_completion": answer}}}
    )


def error_item(rid: str, message: str) -> bytes:
    """The stored result item of a failed request."""
    return orjson.dumps({"batch_request_id": rid, "batch_result": {"error": message}})
