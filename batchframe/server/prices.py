"""The local server's model catalogue: which models it admits and their SIMULATED prices.

These prices are made up for the simulator. They are NOT xAI's prices; only the field names and
units are xAI's: token prices are integers in 1/100 US cents per million tokens (12500 = $1.25
per 1M tokens), which is exactly one tick (1e-10 USD) per token per unit. Media prices are in
1/100 US cents per image (or per second of video), i.e. 1,000,000 ticks per unit.

The batch discount is the reference's (section 10): 20% off for grok-4.3, grok-4.20-0309-reasoning,
grok-4.20-0309-non-reasoning and grok-4.20-multi-agent-0309, none for other models. A result's
``cost_in_usd_ticks`` is ``(prompt_tokens * prompt price + (completion_tokens + reasoning_tokens)
* completion price) * (100 - discount) // 100``.

>>> price_of("grok-4.20").name
'grok-4.20-0309-reasoning'
>>> text_cost_ticks(price_of("grok-4.3"), prompt_tokens=1000, output_tokens=100)
14000000
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "CATALOGUE",
    "CREATED_TS",
    "DEFAULT_MODELS",
    "ModelPrice",
    "language_model_json",
    "media_cost_ticks",
    "price_of",
    "resolve_models",
    "text_cost_ticks",
    "upstream_price",
]

Kind = Literal["text", "image", "video"]
CREATED_TS = 1767225600  # 2026-01-01: a fixed date, so replies are reproducible
_TICKS_PER_MEDIA_UNIT = 1_000_000  # 1/100 US cent in ticks


@dataclass(frozen=True)
class ModelPrice:
    """One model of the simulated catalogue (SIMULATED prices, xAI's field names and units)."""

    name: str
    kind: Kind = "text"
    aliases: tuple[str, ...] = ()
    prompt_text_token_price: int = 0
    cached_prompt_text_token_price: int = 0
    prompt_image_token_price: int = 0
    completion_text_token_price: int = 0
    search_price: int = 0
    #: media models: 1/100 US cents per image, or per second of video
    unit_price: int = 0
    batch_discount_percent: int = 0
    max_prompt_length: int = 1_000_000


def _text(name: str, prompt: int, completion: int, aliases: tuple[str, ...]) -> ModelPrice:
    return ModelPrice(
        name=name,
        aliases=aliases,
        prompt_text_token_price=prompt,
        cached_prompt_text_token_price=prompt // 4,
        prompt_image_token_price=prompt,
        completion_text_token_price=completion,
        batch_discount_percent=20,
    )


#: The simulated catalogue: the reference's batch-enabled text models and the guide's media models.
CATALOGUE: tuple[ModelPrice, ...] = (
    _text("grok-4.3", 12_500, 50_000, ("grok-4.3-latest",)),
    _text(
        "grok-4.20-0309-reasoning",
        20_000,
        60_000,
        ("grok-4.20", "grok-4.20-reasoning", "grok-4.20-reasoning-latest"),
    ),
    _text(
        "grok-4.20-0309-non-reasoning",
        20_000,
        60_000,
        ("grok-4.20-non-reasoning", "grok-4.20-non-reasoning-latest"),
    ),
    _text("grok-4.20-multi-agent-0309", 30_000, 90_000, ("grok-4.20-multi-agent",)),
    ModelPrice("grok-imagine-image", kind="image", unit_price=200),
    ModelPrice("grok-imagine-image-quality", kind="image", unit_price=700),
    ModelPrice("grok-imagine-video", kind="video", unit_price=500),
)
#: The models admitted when ``--models`` is not given (DESIGN section 6).
DEFAULT_MODELS: tuple[str, ...] = tuple(m.name for m in CATALOGUE)

_BY_NAME: dict[str, ModelPrice] = {m.name: m for m in CATALOGUE}
_BY_NAME.update({alias: m for m in CATALOGUE for alias in m.aliases})


def price_of(model: str) -> ModelPrice:
    """The catalogue entry of a model or alias; a model outside it gets default prices.

    A model admitted with ``--models`` but not in the catalogue is priced like this (SIMULATED):
    10000 / 2500 / 40000 per 1M prompt / cached / completion tokens, no batch discount; a name
    starting ``grok-imagine`` is an image model at 200 per image (``-video``: 500 per second).
    """
    known = _BY_NAME.get(model)
    if known is not None:
        return known
    if model.startswith("grok-imagine"):
        kind: Kind = "video" if "video" in model else "image"
        return ModelPrice(model, kind=kind, unit_price=500 if kind == "video" else 200)
    return ModelPrice(
        model,
        prompt_text_token_price=10_000,
        cached_prompt_text_token_price=2_500,
        prompt_image_token_price=10_000,
        completion_text_token_price=40_000,
    )


def upstream_price(model: str, prices: Mapping[str, tuple[float, float]]) -> ModelPrice:
    """The price of ``model`` when an upstream answers it: ``prices`` (``--upstream-price``, USD
    per million prompt / completion tokens) by the requested name or, for an alias, its
    catalogue name; 0 for a model it does not name; no batch discount. This one entry is both
    what the model list serves and what a result's ``cost_in_usd_ticks`` is computed with.

    >>> price = upstream_price("grok-4.3-latest", {"grok-4.3": (1.0, 2.0)})
    >>> price.name, price.prompt_text_token_price, price.completion_text_token_price
    ('grok-4.3', 10000, 20000)
    >>> upstream_price("grok-4.3", {}).completion_text_token_price
    0
    """
    base = price_of(model)
    usd = prices.get(model)
    if usd is None:
        usd = prices.get(base.name, (0.0, 0.0))
    # USD per million tokens -> 1/100 US cents per million tokens (= ticks per token): x 10,000.
    prompt, completion = round(usd[0] * 10_000), round(usd[1] * 10_000)
    return dataclasses.replace(
        base,
        prompt_text_token_price=prompt,
        cached_prompt_text_token_price=prompt,
        prompt_image_token_price=prompt,
        completion_text_token_price=completion,
        search_price=0,
        unit_price=0,
        batch_discount_percent=0,
    )


class AnyModel(frozenset[str]):
    """Every model name is admitted: a model map's ``*`` sends any model to the upstream.

    >>> "some-model" in AnyModel()
    True
    """

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)


def resolve_models(names: Iterable[str]) -> frozenset[str]:
    """Every name a request may use for the admitted ``names``: each name and its aliases.

    ``*`` among the names (a model map's catch-all) admits every model.
    """
    if "*" in names:
        return AnyModel()
    out: set[str] = set()
    for name in names:
        out.add(name)
        known = _BY_NAME.get(name)
        if known is not None and known.name == name:
            out.update(known.aliases)
    return frozenset(out)


def text_cost_ticks(price: ModelPrice, *, prompt_tokens: int, output_tokens: int) -> int:
    """Ticks for a text request (output = completion + reasoning tokens), discount applied."""
    gross = (
        prompt_tokens * price.prompt_text_token_price
        + output_tokens * price.completion_text_token_price
    )
    return gross * (100 - price.batch_discount_percent) // 100


def media_cost_ticks(price: ModelPrice, units: int) -> int:
    """Ticks for ``units`` images (or seconds of video), discount applied."""
    gross = units * price.unit_price * _TICKS_PER_MEDIA_UNIT
    return gross * (100 - price.batch_discount_percent) // 100


def language_model_json(price: ModelPrice) -> dict[str, Any]:
    """A model as ``GET /v1/language-models`` returns it (xAI's field names)."""
    return {
        "id": price.name,
        "fingerprint": "fp_batchframe_local",
        "created": CREATED_TS,
        "object": "model",
        "owned_by": "xai",
        "version": "1.0",
        "input_modalities": ["text", "image"],
        "output_modalities": ["text"],
        "prompt_text_token_price": price.prompt_text_token_price,
        "cached_prompt_text_token_price": price.cached_prompt_text_token_price,
        "prompt_image_token_price": price.prompt_image_token_price,
        "completion_text_token_price": price.completion_text_token_price,
        "search_price": price.search_price,
        "aliases": list(price.aliases),
    }
