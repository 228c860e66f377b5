"""The simulated model: answers each request the way the batch API would, deterministically.

- ``chat_get_completion`` and ``responses`` both come back as ``chat_get_completion``
  (a ``chat.completion`` object), as on xAI. The content is the text of the last user message,
  verbatim; with a ``json_schema`` response format it is a JSON instance of the schema.
- usage is counted with the simulated tokenizer (:mod:`batchframe.server.tokenizer`, the one
  ``/v1/tokenize-text`` serves): ``prompt_tokens`` is the sum over the messages (system included)
  of the tokens of each message's text, at least 1; ``completion_tokens`` the tokens of the
  answer. ``cost_in_usd_ticks`` (1 tick = 1e-10 USD) comes from the SIMULATED price table in
  :mod:`batchframe.server.prices`, batch discount applied.
- the media kinds (``image_generation``, ``image_edit``, ``video_generation``,
  ``video_extension``) get deterministic placeholder URLs (:mod:`batchframe.server.media`).
- Request errors the real API reports at run time fail the request with an error string.

>>> ok, item = simulate("r1", "chat_get_completion",
...                     {"model": "grok-4.3", "messages": [{"role": "user", "content": "hi"}]})
>>> ok, orjson.loads(item)["batch_result"]["response"]["chat_get_completion"]["choices"][0][
...     "message"]["content"]
(True, 'hi')
"""

from __future__ import annotations

import random
import time
from typing import Any

import orjson

from batchframe.server.media import MEDIA_KINDS, RequestFailed, simulate_media
from batchframe.server.prices import price_of, text_cost_ticks
from batchframe.server.schema_instance import instance_for
from batchframe.server.tokenizer import count_tokens, truncate

__all__ = ["SUPPORTED_KINDS", "TEXT_KINDS", "RequestFailed", "simulate"]

TEXT_KINDS = ("chat_get_completion", "responses")
SUPPORTED_KINDS = (*TEXT_KINDS, *MEDIA_KINDS)

_REASONING_TOKENS = {"none": 0, "low": 24, "medium": 48, "high": 96}
_FINGERPRINT = "fp_batchframe_local"


def simulate(
    rid: str,
    kind: str,
    body: Any,
    *,
    fail_rate: float = 0.0,
    rng: random.Random | None = None,
    now: float | None = None,
) -> tuple[bool, bytes]:
    """Run one request; return (succeeded, the result item as JSON bytes)."""
    try:
        if kind not in SUPPORTED_KINDS:
            raise RequestFailed(f"Request kind {kind} is not supported by the local batch server")
        if not isinstance(body, dict):
            raise RequestFailed("The request body could not be read as a JSON object")
        if fail_rate > 0 and (rng or random).random() < fail_rate:
            raise RequestFailed("Simulated failure (fail_rate): the model could not complete")
        now = time.time() if now is None else now
        if kind in MEDIA_KINDS:
            return True, simulate_media(rid, kind, body, now)
        return True, _complete(rid, kind, body, rng, now)
    except RequestFailed as exc:
        return False, _error_item(rid, str(exc))
    except Exception as exc:  # a body shape the simulation does not understand
        return False, _error_item(rid, f"The local model could not process this request: {exc}")


def _error_item(rid: str, message: str) -> bytes:
    return orjson.dumps({"batch_request_id": rid, "batch_result": {"error": message}})


# The result item with its variable parts left as %-slots: building bytes, not nested dicts,
# keeps the engine fast (it writes one of these per request).
_SUCCESS = (
    b'{"batch_request_id":%b,"batch_result":{"response":{"chat_get_completion":{'
    b'"id":"%032x_local","object":"chat.completion","created":%d,"model":%b,'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":%b,"refusal":null},'
    b'"finish_reason":"%b"}],'
    b'"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,'
    b'"prompt_tokens_details":{"text_tokens":%d,"audio_tokens":0,"image_tokens":0,"cached_tokens":0},'
    b'"completion_tokens_details":{"reasoning_tokens":%d,"audio_tokens":0,'
    b'"accepted_prediction_tokens":0,"rejected_prediction_tokens":0},'
    b'"num_sources_used":0,"cost_in_usd_ticks":%d},'
    b'"system_fingerprint":"' + _FINGERPRINT.encode() + b'"}}}}'
)


def _complete(
    rid: str, kind: str, body: dict[str, Any], rng: random.Random | None, now: float
) -> bytes:
    model = body.get("model")
    model = model if isinstance(model, str) else ""
    limit = _max_tokens(body)
    _check_temperature(body.get("temperature"))
    prompt_tokens, user_text, user_tokens = _read_prompt(kind, body)
    content = _answer(body, user_text)
    finish = b"stop"
    # The plain answer is the last user message: its tokens are counted already.
    completion_tokens = user_tokens if content is user_text else count_tokens(content)
    if limit is not None and completion_tokens > limit:
        content, completion_tokens, finish = truncate(content, limit), limit, b"length"
    effort = body.get("reasoning_effort")
    reasoning = _REASONING_TOKENS.get(effort, 32) if isinstance(effort, str) else 0
    ticks = text_cost_ticks(
        price_of(model), prompt_tokens=prompt_tokens, output_tokens=completion_tokens + reasoning
    )
    dumps = orjson.dumps
    return _SUCCESS % (
        dumps(rid),
        (rng or random).getrandbits(128),
        int(now),
        dumps(model),
        dumps(content),
        finish,
        prompt_tokens,
        completion_tokens,
        prompt_tokens + completion_tokens + reasoning,
        prompt_tokens,
        reasoning,
        ticks,
    )


def _max_tokens(body: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise RequestFailed(f"Invalid {name}: expected an integer but got {value!r}")
        if value <= 0:
            raise RequestFailed(
                f"Maximum number of tokens {name} must be positive but {name} = {value}"
            )
        return value
    return None


def _check_temperature(value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 2:
        raise RequestFailed(f"temperature must be between 0 and 2 but temperature = {value!r}")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _read_prompt(kind: str, body: dict[str, Any]) -> tuple[int, str, int]:
    """(prompt tokens: the sum over messages of each one's text tokens, at least 1; the text of
    the last user message; its tokens). A ``responses`` body's ``instructions`` count as a
    system message."""
    if kind == "responses":
        raw = body.get("input")
        messages = [{"role": "user", "content": raw}] if isinstance(raw, str) else raw
        instructions = body.get("instructions")
        tokens = count_tokens(instructions) if isinstance(instructions, str) else 0
    else:
        messages, tokens = body.get("messages"), 0
    if not isinstance(messages, list):
        raise RequestFailed("messages must be a list of messages")
    last_user, last_tokens = "", 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        text = _text_of(message.get("content"))
        count = count_tokens(text)
        tokens += count
        if message.get("role", "user") == "user":
            last_user, last_tokens = text, count
    return max(1, tokens), last_user, last_tokens


def _answer(body: dict[str, Any], user_text: str) -> str:
    fmt = body.get("response_format")
    if fmt is None and isinstance(body.get("text"), dict):
        fmt = body["text"].get("format")  # the responses API puts it under text.format
    if not isinstance(fmt, dict):
        return user_text
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema", fmt)
        schema = spec.get("schema", {}) if isinstance(spec, dict) else {}
        return orjson.dumps(instance_for(schema, user_text)).decode()
    if fmt.get("type") == "json_object":
        return orjson.dumps({"text": user_text}).decode()
    return user_text
