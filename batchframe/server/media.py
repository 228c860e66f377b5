"""Simulated image and video results, in the shapes of xAI's batch guide.

- ``image_generation`` and ``image_edit`` come back under ``image_generation`` (as text requests
  of either kind come back under ``chat_get_completion``): ``{"created", "model", "data":
  [{"url", "revised_prompt"}, ...], "usage": {"cost_in_usd_ticks"}}``, one ``data`` item per
  requested image (``n``, 1 to 10, default 1).
- ``video_generation`` and ``video_extension`` come back under ``video_generation``:
  ``{"created", "model", "video": {"url", "duration", "respect_moderation"}, "usage":
  {"cost_in_usd_ticks"}}``; ``duration`` is the requested one (1 to 15 seconds, default 6).

URLs are deterministic placeholders on the reserved ``.invalid`` domain (they never resolve):
the same request always gets the same URL. A missing prompt, or an edit or extension without
its source URL, fails the request with an error string, as a run-time error on xAI would.

>>> ok = simulate_media("r", "image_generation", {"model": "grok-imagine-image", "prompt": "a cat"}, 0)
>>> orjson.loads(ok)["batch_result"]["response"]["image_generation"]["data"][0]["url"][:36]
'https://media.batchframe.invalid/ima'
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from batchframe.server.prices import media_cost_ticks, price_of

__all__ = ["MEDIA_KINDS", "RequestFailed", "simulate_media"]

MEDIA_KINDS = ("image_generation", "image_edit", "video_generation", "video_extension")
_HOST = "https://media.batchframe.invalid"
_MAX_IMAGES = 10
_MAX_SECONDS = 15
_DEFAULT_SECONDS = 6


class RequestFailed(Exception):
    """The request fails at run time with this message as its result error."""


def simulate_media(rid: str, kind: str, body: dict[str, Any], now: float) -> bytes:
    """The result item (JSON bytes) of one media request; raises :class:`RequestFailed`."""
    model = body.get("model") if isinstance(body.get("model"), str) else ""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise RequestFailed("prompt must be a non-empty string")
    source = _source_url(kind, body)
    seed = orjson.dumps([kind, model, prompt, source], option=orjson.OPT_SORT_KEYS)
    price = price_of(str(model))
    inner: dict[str, Any]
    if kind.startswith("image"):
        n = _int_in(body, "n", 1, _MAX_IMAGES, 1)
        data = [{"url": _url("images", seed, i, "jpg"), "revised_prompt": ""} for i in range(n)]
        key, inner = "image_generation", {"data": data}
        ticks = media_cost_ticks(price, n)
    else:
        seconds = _int_in(body, "duration", 1, _MAX_SECONDS, _DEFAULT_SECONDS)
        url = _url("videos", seed, 0, "mp4")
        inner = {"video": {"url": url, "duration": seconds, "respect_moderation": True}}
        key = "video_generation"
        ticks = media_cost_ticks(price, seconds)
    response = {"created": int(now), "model": model, **inner, "usage": {"cost_in_usd_ticks": ticks}}
    return orjson.dumps({"batch_request_id": rid, "batch_result": {"response": {key: response}}})


def _url(folder: str, seed: bytes, index: int, ext: str) -> str:
    digest = hashlib.sha256(seed + str(index).encode()).hexdigest()[:32]
    return f"{_HOST}/{folder}/{digest}.{ext}"


def _source_url(kind: str, body: dict[str, Any]) -> str | None:
    """The URL an edit or extension starts from (``image.url`` / ``video.url``)."""
    field = {"image_edit": "image", "video_extension": "video"}.get(kind)
    if field is None:
        value = body.get("video") or body.get("image")
        return _url_of(value)
    url = _url_of(body.get(field))
    if url is None and kind == "image_edit":
        images = body.get("images")
        if isinstance(images, list) and images:
            url = _url_of(images[0])
    if url is None:
        raise RequestFailed(f"{kind} needs {field}.url: the {field} to start from")
    return url


def _url_of(value: Any) -> str | None:
    if isinstance(value, dict):
        url = value.get("url") or value.get("image_url")
        return url if isinstance(url, str) and url else None
    return None


def _int_in(body: dict[str, Any], name: str, low: int, high: int, default: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestFailed(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value
