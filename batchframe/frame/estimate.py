"""``bf.estimate``: what a job will send and cost, before anything is sent.

The input is encoded and planned exactly as ``submit`` would (dedup, then the result cache), so
``requests`` is what would be sent. Then, for those requests:

- **prompt tokens** come from the server's tokenizer (``POST /v1/tokenize-text``), counted the
  way usage is: the sum over a request's messages of each message's tokens, at least 1. Up to
  ``sample`` requests (default 1,000) are tokenized, a uniform sample chosen by request key (so
  the same input gives the same figure); past that the total is the sample's tokens per byte of
  message text times every request's bytes (a ratio estimate), a system prompt shared by every
  request counted exactly. ``prompt_tokens_max`` is a bound that holds for any byte-level
  tokenizer: a request's tokens are at most its text's UTF-8 bytes (its JSON-escaped length is
  used, which is never smaller). The API adds a few chat-template tokens per message that no
  tokenizer endpoint shows; the local server does not.
- **prices** come from the server's model list (``GET /v1/language-models``), in xAI's units
  (1/100 US cents per million tokens), or ``prices=``; the **batch discount** (``batch_discount``,
  default 20% for grok-4.3, grok-4.20-0309-reasoning, grok-4.20-0309-non-reasoning and
  grok-4.20-multi-agent-0309, else 0: reference section 10) applies to prompt and output alike.
- **completion tokens**: ``completion_tokens`` per request (default 256), capped at ``max_tokens``
  / ``max_completion_tokens``; their bound ``max_completion_tokens`` is that cap times the
  requests (``None`` without a cap, and then ``cost_usd_max`` is ``None`` too).
- **reasoning tokens** (billed as output, not bounded by ``max_tokens``): ``reasoning_tokens`` per
  request, default the local simulator's figures for ``reasoning_effort`` (none 0, low 24,
  medium 48, high 96, other 32), 0 without it. A reasoning model asked without an effort has
  no known bound: ``cost_usd_max`` is ``None`` unless ``reasoning_tokens=`` gives one.

Offline, or when an endpoint is missing (404, 501, no connection), the heuristics are: 4 bytes of
message text a token, and the local server's simulated list prices (not xAI's) for the models it
knows. ``Estimate.heuristic`` names every figure that came from one.

>>> est = bf.estimate(df, prompt="review", model="grok-4.3", max_tokens=200)   # doctest: +SKIP
>>> est.cost_usd, est.cost_usd_max                                           # doctest: +SKIP
(0.0123, 0.0456)
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Hashable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from batchframe._config import DEFAULT_MAX_BATCH_REQUESTS
from batchframe.client import Client
from batchframe.errors import APIConnectionError, APIStatusError, CostLimitError
from batchframe.frame.cache import ResultCache, open_cache
from batchframe.frame.dedup import _ID_START, BATCH, CACHE, DUPLICATE, build_plan
from batchframe.frame.identity import canonical_server_url
from batchframe.frame.shards import EncodedShard, iter_shards
from batchframe.frame.sources import Source, as_source
from batchframe.frame.spec import RequestSpec

if TYPE_CHECKING:
    from batchframe.frame.submit import SendOptions
    from batchframe.models import LanguageModel

__all__ = [
    "DISCOUNTED_MODELS",
    "Estimate",
    "cap_message",
    "check_cap",
    "estimate",
    "spend_estimate",
    "text_bytes",
    "usd",
]

logger = logging.getLogger("batchframe")

#: Models with the 20% batch discount (reference section 10).
DISCOUNTED_MODELS = (
    "grok-4.3",
    "grok-4.20-0309-reasoning",
    "grok-4.20-0309-non-reasoning",
    "grok-4.20-multi-agent-0309",
)
DEFAULT_COMPLETION_TOKENS = 256
DEFAULT_SAMPLE = 1_000
BYTES_PER_TOKEN = 4
#: The local simulator's reasoning tokens per ``reasoning_effort`` (other values: 32).
REASONING_BY_EFFORT = {"none": 0, "low": 24, "medium": 48, "high": 96}
#: Offline prices (prompt, completion; 1/100 US cents per 1M tokens): the local server's
#: SIMULATED list prices, not xAI's.
FALLBACK_PRICES = {
    "grok-4.3": (12_500, 50_000),
    "grok-4.20-0309-reasoning": (20_000, 60_000),
    "grok-4.20-0309-non-reasoning": (20_000, 60_000),
    "grok-4.20-multi-agent-0309": (30_000, 90_000),
}
_FALLBACK_ALIASES = {
    "grok-4.3-latest": "grok-4.3",
    "grok-4.20": "grok-4.20-0309-reasoning",
    "grok-4.20-reasoning": "grok-4.20-0309-reasoning",
    "grok-4.20-non-reasoning": "grok-4.20-0309-non-reasoning",
    "grok-4.20-multi-agent": "grok-4.20-multi-agent-0309",
}
_TICK_USD = 1e-10  # a price unit (1/100 cent per 1M tokens) is one tick per token
_OFFLINE = (APIConnectionError,)


@dataclass(frozen=True)
class Estimate:
    """What a job would send and cost (see :func:`estimate`); token and USD figures are totals
    over the requests to send (after dedup and the cache)."""

    model: str
    rows: int
    requests: int
    duplicates: int
    cached: int
    skipped: int
    prompt_tokens: int
    prompt_tokens_max: int
    completion_tokens: int
    max_completion_tokens: int | None
    reasoning_tokens: int
    cost_usd: float | None
    cost_usd_max: float | None
    #: ``model`` (the price list's ID), ``prompt_text_token_price``,
    #: ``completion_text_token_price`` (1/100 US cents per 1M tokens), ``batch_discount``,
    #: ``source`` (``server``, ``prices=`` or ``heuristic``); ``None`` when the model is unknown.
    prices: dict[str, Any] | None
    #: How many requests were tokenized (all of them when ``sample_size == requests``).
    sample_size: int
    #: The figures that come from a heuristic (offline or a missing endpoint).
    heuristic: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def exact_prompt_tokens(self) -> bool:
        """Whether every request to send was tokenized (no scaling)."""
        return self.sample_size == self.requests and "prompt_tokens" not in self.heuristic

    def to_frame(self) -> pd.DataFrame:
        """The figures as a two-column frame (``value``, ``heuristic``), one row each."""
        names = [
            "rows", "requests", "duplicates", "cached", "skipped", "prompt_tokens",
            "prompt_tokens_max", "completion_tokens", "max_completion_tokens",
            "reasoning_tokens", "cost_usd", "cost_usd_max", "sample_size",
        ]  # fmt: skip
        return pd.DataFrame(
            {
                "value": pd.Series([getattr(self, n) for n in names], dtype=object, index=names),
                "heuristic": pd.Series([n in self.heuristic for n in names], index=names),
            },
            index=pd.Index(names, name="figure"),
        )

    def __str__(self) -> str:
        cost = "unknown" if self.cost_usd is None else usd(self.cost_usd)
        top = (
            "no upper bound (the answers have no max_tokens)"
            if self.cost_usd_max is None
            else f"{usd(self.cost_usd_max)} at most"
        )
        lines = [
            f"{self.requests:,} requests to send of {self.rows:,} rows ({self.duplicates:,} "
            f"duplicates, {self.cached:,} cached, {self.skipped:,} skipped); model {self.model}",
            f"prompt tokens {self.prompt_tokens:,} (at most {self.prompt_tokens_max:,}; "
            f"{self.sample_size:,} requests tokenized), completion {self.completion_tokens:,}, "
            f"reasoning {self.reasoning_tokens:,}",
            f"cost {cost} expected, {top}",
        ]
        if self.heuristic:
            lines.append("heuristic: " + ", ".join(self.heuristic))
        return "\n".join(lines + list(self.notes))

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(str(name))}</td><td>{html.escape(_shown(row.value))}</td>"
            f"<td>{'heuristic' if row.heuristic else ''}</td></tr>"
            for name, row in self.to_frame().iterrows()
        )
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return (
            f"<div><b>batchframe estimate</b> ({html.escape(self.model)})<table>"
            f"<tr><th>figure</th><th>value</th><th></th></tr>{rows}</table>{notes}</div>"
        )


def _shown(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, float):
        return f"{value:,.6f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def check_cap(cap: Any) -> None:
    """A ``max_cost_usd`` must be a number >= 0 (or ``None``): a ValueError before anything."""
    if cap is None:
        return
    if isinstance(cap, bool) or not isinstance(cap, int | float) or not cap >= 0:
        raise ValueError(f"max_cost_usd must be a number of US dollars >= 0, got {cap!r}")


def estimate(
    data: Any,
    *,
    prompt: Hashable | None = None,
    template: str | None = None,
    messages: Hashable | None = None,
    system: str | None = None,
    model: str,
    id_column: Hashable | None = None,
    response_model: Any = None,
    on_null: str = "error",
    client: Client | None = None,
    cache: Any = None,
    dedup: bool = True,
    completion_tokens: int = DEFAULT_COMPLETION_TOKENS,
    reasoning_tokens: int | None = None,
    sample: int = DEFAULT_SAMPLE,
    batch_discount: float | None = None,
    prices: Any = None,
    max_batch_requests: int | None = None,
    **params: Any,
) -> Estimate:
    """The requests, tokens and cost of submitting ``data`` this way (module docstring).

    Takes the arguments of :func:`~batchframe.to_requests` plus ``client`` (default: one from
    the environment; without a key, the heuristics), ``cache`` and ``dedup`` as for ``submit``,
    ``completion_tokens`` (expected per request), ``reasoning_tokens`` (per request),
    ``sample`` (requests tokenized at most), ``batch_discount`` (a fraction, e.g. 0.2) and
    ``prices`` (a ``bf.LanguageModel``, a mapping of its price fields, or a pair of USD per
    million prompt / completion tokens).

    >>> est = bf.estimate(df, template="Rate: {title}", model="grok-4.3",
    ...                   client=client, max_tokens=50)              # doctest: +SKIP
    >>> est.to_frame()                                             # doctest: +SKIP
    """
    spec = RequestSpec.build(
        prompt=prompt,
        template=template,
        messages=messages,
        system=system,
        model=model,
        id_column=id_column,
        response_model=response_model,
        on_null=on_null,
        **params,
    )
    source = as_source(data)
    if source.num_rows == 0:
        raise ValueError("Nothing to estimate: the input has no rows.")
    source.check_ids(spec.id_column)
    owns = client is None
    active = _default_client() if client is None else client
    try:
        return estimate_spec(
            source,
            spec,
            client=active,
            cache=open_cache(cache),
            dedup=dedup,
            completion_tokens=completion_tokens,
            reasoning_tokens=reasoning_tokens,
            sample=sample,
            batch_discount=batch_discount,
            prices=prices,
            max_batch_requests=max_batch_requests or DEFAULT_MAX_BATCH_REQUESTS,
        )
    finally:
        if owns and active is not None:
            active.close()


def _default_client() -> Client | None:
    try:
        return Client()
    except ValueError as exc:  # no key, or a bad base URL: estimate offline
        logger.info("estimating offline: %s", exc)
        return None


@dataclass
class _Tally:
    """Counts and the bottom-``k`` sample of requests to send, shard by shard."""

    k: int
    rows: int = 0
    requests: int = 0
    duplicates: int = 0
    cached: int = 0
    skipped: int = 0
    text_bytes: int = 0
    sample: list[tuple[int, bytes, int]] = field(default_factory=list)  # (priority, item, bytes)

    def add(self, shard: EncodedShard, plan: pa.Table, spec: RequestSpec) -> None:
        origin = plan["origin"].to_numpy()
        self.rows += shard.stop_row - shard.first_row
        self.skipped += sum(len(p.skipped_ids) for p in shard.encoded.parts)
        self.duplicates += int((origin == DUPLICATE).sum())
        self.cached += int((origin == CACHE).sum())
        send = np.flatnonzero(origin == BATCH)
        self.requests += len(send)
        if not len(send):
            return
        sizes = text_bytes(shard, spec)[send]
        self.text_bytes += int(sizes.sum())
        keys = plan["key"].combine_chunks().buffers()[1]
        priority = np.frombuffer(keys, dtype="<u8")[0 : 2 * len(origin) : 2][send]
        take = min(self.k, len(send))
        best = np.argpartition(priority, take - 1)[:take] if take < len(send) else np.arange(take)
        self.sample += [
            (int(priority[i]), shard.encoded.item(int(send[i])), int(sizes[i])) for i in best
        ]
        self.sample = sorted(self.sample)[: self.k]


def text_bytes(shard: EncodedShard, spec: RequestSpec) -> np.ndarray:
    """Each request's message text, as JSON-escaped bytes (never fewer than its UTF-8 bytes;
    the ID's raw length is taken off, which is never more than its escaped length)."""
    head, tail = spec.fragments
    constant = _ID_START + len(head) + len(tail)
    out = []
    for part in shard.encoded.parts:
        ids = pc.binary_length(part.ids).to_numpy(zero_copy_only=False)
        out.append(part.item_sizes() - ids - constant)
    return np.concatenate(out) if out else np.empty(0, np.int64)


def estimate_spec(
    source: Source,
    spec: RequestSpec,
    *,
    client: Client | None,
    cache: ResultCache | None,
    dedup: bool = True,
    completion_tokens: int = DEFAULT_COMPLETION_TOKENS,
    reasoning_tokens: int | None = None,
    sample: int = DEFAULT_SAMPLE,
    batch_discount: float | None = None,
    prices: Any = None,
    max_batch_requests: int = DEFAULT_MAX_BATCH_REQUESTS,
) -> Estimate:
    """:func:`estimate` with the spec built, the source opened and the client chosen."""
    for label, value in (("completion_tokens", completion_tokens), ("sample", sample)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (label == "sample"):
            raise ValueError(
                f"{label} must be a whole number >= {int(label == 'sample')}, got {value!r}"
            )
    if batch_discount is not None and not 0 <= batch_discount < 1:
        raise ValueError(f"batch_discount must be a fraction in [0, 1), got {batch_discount!r}")
    server = canonical_server_url(client.base_url) if client is not None else "offline"
    tally = _Tally(sample)
    plans: list[tuple[int, pa.Table]] = []
    for shard in iter_shards(spec, source, max_batch_requests, with_keys=dedup):
        plan = build_plan(shard, dedup=dedup, cache=cache, server=server, earlier=_from(plans))
        tally.add(shard, plan, spec)
        if dedup:
            plans.append((shard.index, plan.select(["row", "id", "key", "origin"])))
        del shard
    heuristic: list[str] = []
    notes: list[str] = []
    prompt, prompt_max, tokenized = _prompt_tokens(spec, tally, client, heuristic)
    price = _price(spec.model, client, prices, heuristic, notes)
    return _priced(spec, tally, prompt, prompt_max, tokenized, price, completion_tokens,
                   reasoning_tokens, batch_discount, heuristic, notes)  # fmt: skip


def _from(plans: list[tuple[int, pa.Table]]) -> Any:
    def earlier() -> Iterator[tuple[int, pa.Table]]:
        return iter(list(plans))

    return earlier


def _message_texts(item: bytes) -> list[str]:
    body = orjson.loads(item)["batch_request"]["chat_get_completion"]
    texts = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            content = "".join(
                p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
            )
        texts.append(content if isinstance(content, str) else "")
    return texts


def _prompt_tokens(
    spec: RequestSpec, tally: _Tally, client: Client | None, heuristic: list[str]
) -> tuple[int, int, int]:
    """(expected prompt tokens, their bound, requests tokenized) over the requests to send."""
    shared = spec.system if spec.messages is None and spec.system else None
    if not tally.requests:
        return 0, 0, 0
    counts = _counts(spec.model, tally, client, shared)
    if counts is None:  # offline: the byte heuristic
        heuristic.append("prompt_tokens")
        per = 0 if shared is None else math.ceil(len(shared.encode()) / BYTES_PER_TOKEN)
        guess = math.ceil(tally.text_bytes / BYTES_PER_TOKEN) + per * tally.requests
        shared_max = 0 if shared is None else len(shared.encode())
        bound = tally.text_bytes + (shared_max + 1) * tally.requests
        return max(guess, tally.requests), bound, 0
    system_tokens, per_request = counts
    k = len(per_request)
    sampled = sum(per_request)
    sampled_bytes = sum(b for _, _, b in tally.sample)
    rest = tally.requests - k
    if rest == 0:
        return sampled, sampled, k
    user = sampled - system_tokens * k
    ratio = user / sampled_bytes if sampled_bytes else 0.0
    guess = round(ratio * tally.text_bytes + system_tokens * tally.requests)
    bound = sampled + (tally.text_bytes - sampled_bytes) + (system_tokens + 1) * rest
    return max(guess, tally.requests), bound, k


def _counts(
    model: str, tally: _Tally, client: Client | None, shared: str | None
) -> tuple[int, list[int]] | None:
    """The shared system prompt's tokens and each sampled request's, or None when offline."""
    if client is None:
        return None
    texts = [_message_texts(item) for _, item, _ in tally.sample]
    unique = sorted({t for row in texts for t in row if t})
    try:
        with ThreadPoolExecutor(4) as pool:
            counted = dict(
                zip(
                    unique,
                    pool.map(lambda t: len(client.tokenize_text(t, model)), unique),
                    strict=True,
                )
            )
    except _OFFLINE as exc:
        logger.info("tokenizer unreachable (%s): estimating with the byte heuristic", exc)
        return None
    except APIStatusError as exc:
        if exc.status_code in (404, 405, 501):
            logger.info("no tokenizer endpoint (%s): estimating with the byte heuristic", exc)
            return None
        raise
    per_request = [max(1, sum(counted.get(t, 0) for t in row)) for row in texts]
    return (counted.get(shared, 0) if shared else 0), per_request


def _price(
    model: str, client: Client | None, given: Any, heuristic: list[str], notes: list[str]
) -> dict[str, Any] | None:
    if given is not None:
        return {**_given_price(given), "model": model, "source": "prices="}
    listed: list[LanguageModel] | None = None
    if client is not None:
        try:
            listed = client.list_language_models()
        except _OFFLINE as exc:
            logger.info("model list unreachable (%s): offline prices", exc)
        except APIStatusError as exc:
            if exc.status_code not in (404, 405, 501):
                raise
    if listed is not None:
        for entry in listed:
            if model == entry.id or model in entry.aliases:
                return {
                    "model": entry.id,
                    "prompt_text_token_price": entry.prompt_text_token_price,
                    "completion_text_token_price": entry.completion_text_token_price,
                    "source": "server",
                }
        notes.append(
            f"The server's price list does not know model {model!r}: no cost figure. Pass "
            "prices=(USD per 1M prompt tokens, USD per 1M completion tokens)."
        )
        return None
    canonical = _FALLBACK_ALIASES.get(model, model)
    if canonical not in FALLBACK_PRICES:
        notes.append(f"No price list reachable and model {model!r} has no offline price.")
        return None
    heuristic.append("prices")
    prompt, completion = FALLBACK_PRICES[canonical]
    return {
        "model": canonical,
        "prompt_text_token_price": prompt,
        "completion_text_token_price": completion,
        "source": "heuristic",
    }


def _given_price(given: Any) -> dict[str, Any]:
    if isinstance(given, tuple | list) and len(given) == 2:
        prompt, completion = (float(v) for v in given)  # USD per 1M tokens -> 1/100 cents
        return {
            "prompt_text_token_price": round(prompt * 10_000),
            "completion_text_token_price": round(completion * 10_000),
        }
    fields = given.model_dump() if hasattr(given, "model_dump") else given
    if not isinstance(fields, Mapping):
        raise ValueError(
            "prices must be (USD per 1M prompt tokens, USD per 1M completion tokens), a "
            f"bf.LanguageModel or a mapping of its price fields; got {given!r}"
        )
    return {
        "prompt_text_token_price": int(fields.get("prompt_text_token_price", 0)),
        "completion_text_token_price": int(fields.get("completion_text_token_price", 0)),
    }


def _reasoning(spec: RequestSpec, model: str, given: int | None) -> tuple[int, int | None]:
    """(expected reasoning tokens per request, their bound or None)."""
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, int) or given < 0:
            raise ValueError(f"reasoning_tokens must be a whole number >= 0, got {given!r}")
        return given, given
    effort = spec.params.get("reasoning_effort")
    if isinstance(effort, str):
        figure = REASONING_BY_EFFORT.get(effort, 32)
        return figure, figure
    reasons = ("reasoning" in model and "non-reasoning" not in model) or "multi-agent" in model
    return 0, None if reasons else 0


def _priced(
    spec: RequestSpec,
    tally: _Tally,
    prompt: int,
    prompt_max: int,
    tokenized: int,
    price: dict[str, Any] | None,
    completion_tokens: int,
    reasoning_tokens: int | None,
    batch_discount: float | None,
    heuristic: list[str],
    notes: list[str],
) -> Estimate:
    cap = next(
        (
            spec.params[k]
            for k in ("max_completion_tokens", "max_tokens", "max_output_tokens")
            if spec.params.get(k)
        ),
        None,
    )
    n = tally.requests
    per = completion_tokens if cap is None else min(completion_tokens, int(cap))
    completion, completion_max = per * n, None if cap is None else int(cap) * n
    model = price["model"] if price is not None else spec.model
    reasoning, reasoning_max = _reasoning(spec, model, reasoning_tokens)
    cost = cost_max = None
    if price is not None:
        discount = batch_discount
        if discount is None:
            discount = 0.2 if model in DISCOUNTED_MODELS else 0.0
        price["batch_discount"] = discount
        p = price["prompt_text_token_price"] * _TICK_USD * (1 - discount)
        c = price["completion_text_token_price"] * _TICK_USD * (1 - discount)
        cost = prompt * p + (completion + reasoning * n) * c
        if completion_max is not None and reasoning_max is not None:
            cost_max = prompt_max * p + (completion_max + reasoning_max * n) * c
        elif completion_max is not None:
            notes.append(
                f"{model} reasons without a known bound: pass reasoning_tokens= for cost_usd_max"
            )
    if "prompt_tokens" in heuristic or "prices" in heuristic:
        heuristic += [f for f in ("cost_usd", "cost_usd_max") if f not in heuristic]
    return Estimate(
        model=spec.model,
        rows=tally.rows,
        requests=n,
        duplicates=tally.duplicates,
        cached=tally.cached,
        skipped=tally.skipped,
        prompt_tokens=prompt,
        prompt_tokens_max=prompt_max,
        completion_tokens=completion,
        max_completion_tokens=completion_max,
        reasoning_tokens=reasoning * n,
        cost_usd=cost,
        cost_usd_max=cost_max,
        prices=price,
        sample_size=tokenized,
        heuristic=tuple(heuristic),
        notes=tuple(notes),
    )


def refuse_over_cap(
    source: Source,
    spec: RequestSpec,
    client: Client,
    cache: ResultCache | None,
    dedup: bool,
    prices: Any,
    cap: float,
    send: SendOptions,
) -> Estimate:
    """The estimate, or :class:`~batchframe.CostLimitError` when it is over ``cap`` (or unknown)."""
    est = estimate_spec(
        source,
        spec,
        client=client,
        cache=cache,
        dedup=dedup,
        prices=prices,
        max_batch_requests=send.max_batch_requests,
    )
    if est.cost_usd is None:
        raise CostLimitError(
            f"max_cost_usd={cap:g} cannot be checked: {' '.join(est.notes) or 'no price'} "
            "Nothing was sent. Pass prices=(USD per 1M prompt tokens, USD per 1M completion "
            "tokens) to submit, or max_cost_usd=None to send without a cap.",
            estimate=est,
            cap=cap,
        )
    if est.cost_usd > cap:
        raise CostLimitError(cap_message(est, cap, "max_cost_usd={}"), estimate=est, cap=cap)
    return est


def usd(value: float) -> str:
    """Dollars with enough decimals to show a small figure.

    >>> usd(12.5), usd(0.0000021), usd(0.0)
    ('$12.5000', '$0.0000021', '$0')
    """
    if value == 0:
        return "$0"
    decimals = min(10, max(4, 1 - math.floor(math.log10(abs(value)))))
    return f"${value:,.{decimals}f}"


def cap_message(est: Estimate, cap: float, flag: str, check: str = "bf.estimate(...)") -> str:
    """Why the cap refused, and how to raise it (``flag``: ``"max_cost_usd={}"`` or the CLI's)."""
    top = "" if est.cost_usd_max is None else f", at most {usd(est.cost_usd_max)}"
    cost = est.cost_usd or 0.0
    need = float(f"{cost * 1.1:.2g}") if cost < 0.01 else math.ceil(cost * 110) / 100
    return (
        f"The estimated cost, {usd(cost)}{top}, for {est.requests:,} requests "
        f"({est.prompt_tokens:,} prompt tokens) is over the cap of {usd(cap)}. Nothing was "
        f"sent. To send it, raise the cap ({flag.format(f'{need:g}')}) or see {check} first."
    )


def spend_estimate(
    spec: RequestSpec, client: Client, requests: int, text_bytes: int
) -> Estimate | None:
    """A quick estimate of what ``submit`` just sent (the byte heuristic, the server's prices),
    for the wait bar's spend figure when no cap asked for the full estimate; ``None`` when the
    price list cannot be read."""
    from batchframe.errors import BatchframeError

    tally = _Tally(0, requests=requests, text_bytes=text_bytes)
    heuristic: list[str] = []
    notes: list[str] = []
    prompt, prompt_max, _ = _prompt_tokens(spec, tally, None, heuristic)
    try:
        price = _price(spec.model, client, None, heuristic, notes)
    except BatchframeError as exc:
        logger.debug("no spend figure: %s", exc)
        return None
    return _priced(spec, tally, prompt, prompt_max, 0, price, DEFAULT_COMPLETION_TOKENS,
                   None, None, heuristic, notes)  # fmt: skip
