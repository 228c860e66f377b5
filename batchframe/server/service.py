"""The batch API's domain operations, shared by the REST routes and the gRPC front.

Both fronts parse their wire format, call one of these methods with plain values, and serialise
what comes back; validation (names, page sizes, tokens, admitted models, sealed file batches) and
the store calls live here, so REST and gRPC cannot drift apart. Problems are raised as
:mod:`batchframe.server.errors` classes; each front maps them to its own status.

>>> from batchframe.server.store import Store
>>> service = BatchService(Store())
>>> service.create_batch("team", "demo", None, now=0.0).name
'demo'
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Collection, Sequence

from batchframe.server.errors import InvalidArgument, NotFound, PreconditionFailed
from batchframe.server.prices import DEFAULT_MODELS, ModelPrice, price_of, resolve_models
from batchframe.server.store_protocol import (
    BatchRow,
    BatchStore,
    NewRequest,
    RequestRow,
    StoredRequest,
)
from batchframe.server.tokenizer import Token, tokenize

__all__ = [
    "BATCH_ID_RE",
    "DEFAULT_LIMIT",
    "ENDPOINTS",
    "FILE_ID_RE",
    "MAX_LIMIT",
    "MAX_NAME",
    "BatchService",
    "check_limit",
    "decode_token",
    "encode_token",
]

MAX_NAME = 1024
MAX_TOKENIZE_CHARS = 1_000_000
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MASKED_KEY_ID = "********-****-****-****-************"
ENDPOINTS = {
    "chat_get_completion": "xai_api.Chat/GetCompletion",
    "responses": "xai_api.Chat/GetCompletion",
    "image_generation": "xai_api.Image/GenerateImage",
    "image_edit": "xai_api.Image/GenerateImage",
    "video_generation": "xai_api.Video/GenerateVideo",
    "video_extension": "xai_api.Video/GenerateVideo",
}
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
BATCH_ID_RE = re.compile(f"batch_{_UUID}")
FILE_ID_RE = re.compile(f"file_{_UUID}")


def encode_token(prefix: str, key: str) -> str:
    """An opaque page token: urlsafe base64 of ``prefix:key``.

    >>> decode_token("r", encode_token("r", "id-9"))
    'id-9'
    """
    return base64.urlsafe_b64encode(f"{prefix}:{key}".encode()).decode().rstrip("=")


def decode_token(prefix: str, token: str | None) -> str | None:
    """The key inside a token from :func:`encode_token`; a bad token is a 400."""
    if not token:
        return None
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidArgument("Invalid pagination token") from None
    if not text.startswith(prefix + ":"):
        raise InvalidArgument("Invalid pagination token")
    return text[len(prefix) + 1 :]


def decode_position(prefix: str, token: str | None) -> int | None:
    """A token holding a row position (batches, files): a 63-bit integer, else a 400."""
    after = decode_token(prefix, token)
    if after is not None and not (after.isascii() and after.isdigit() and len(after) < 19):
        raise InvalidArgument("Invalid pagination token")
    return int(after) if after else None


def check_limit(limit: int | None) -> int:
    """A page size: None or 0 is the default (100); 1..1000 is kept; anything else is a 400."""
    if not limit:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be an integer between 1 and {MAX_LIMIT}, got {limit}")
    return limit


class BatchService:
    """Batches over a :class:`BatchStore`, with the admitted models and the file-parse trigger."""

    def __init__(
        self,
        store: BatchStore,
        models: Collection[str] = DEFAULT_MODELS,
        on_file_batch: Callable[[], None] = lambda: None,
        prices: Callable[[str], ModelPrice] = price_of,
    ) -> None:
        self.store = store
        self.models = tuple(models)
        self.admitted = resolve_models(models)
        self._on_file_batch = on_file_batch
        #: A model's price: the simulator's table, or the upstream's (what results cost).
        self.price_of = prices

    # -- batches -------------------------------------------------------------------------------

    def create_batch(
        self, team: str, name: str, input_file_id: str | None, *, now: float
    ) -> BatchRow:
        if not name.strip() or len(name) > MAX_NAME or "\x00" in name:
            raise InvalidArgument(f"Batch name must be 1 to {MAX_NAME} characters, without NUL")
        if input_file_id is not None:
            self.require_file(team, input_file_id)
        row = self.store.create_batch(
            team, name, key_id=MASKED_KEY_ID, now=now, input_file_id=input_file_id
        )
        if input_file_id is not None:
            self._on_file_batch()
        return row

    def get_batch(self, team: str, batch_id: str) -> BatchRow:
        return self.require_batch(team, batch_id)

    def require_batch(self, team: str, batch_id: str) -> BatchRow:
        if not BATCH_ID_RE.fullmatch(batch_id):
            raise NotFound(f"Cannot find batch with ID {batch_id[:200]!r}")
        return self.store.require_batch(team, batch_id)

    def list_batches(
        self, team: str, limit: int | None, token: str | None
    ) -> tuple[list[BatchRow], str | None]:
        limit = check_limit(limit)
        rows = self.store.list_batches(team, limit + 1, decode_position("b", token))
        next_token = encode_token("b", str(rows[limit - 1].pk)) if len(rows) > limit else None
        return rows[:limit], next_token

    def cancel_batch(self, team: str, batch_id: str, *, now: float) -> BatchRow:
        self.require_batch(team, batch_id)
        return self.store.cancel_batch(team, batch_id, now=now)

    def add_requests(
        self, team: str, batch_id: str, items: Sequence[NewRequest], *, now: float
    ) -> int:
        """Admit a whole add call or none of it; return how many requests were new."""
        batch = self.require_batch(team, batch_id)
        if batch.sealed:
            raise PreconditionFailed("Cannot add inline requests to a file-based batch")
        self.check_models(items)
        # No shortcut for an empty list: the store answers 403 for a cancelled batch.
        return self.store.add_requests(team, batch_id, items, now=now)

    def check_models(self, items: Sequence[NewRequest]) -> None:
        """400 for the first request whose model is not batch-enabled here (nothing admitted)."""
        admitted = self.admitted
        for item in items:
            if item[2] not in admitted:
                raise InvalidArgument(
                    f"Model {item[2][:200]} is not supported for batch processing."
                )

    # -- requests and results ------------------------------------------------------------------

    def list_requests(
        self,
        team: str,
        batch_id: str,
        limit: int | None,
        token: str | None,
        states: Collection[int] = (),
    ) -> tuple[list[RequestRow], str | None]:
        """Request metadata rows by ID; ``states`` (store state numbers) filters when given."""
        batch = self.require_batch(team, batch_id)
        limit = check_limit(limit)
        after = decode_token("r", token)
        rows = self.store.list_requests(batch.pk, limit + 1, after, sorted(set(states)))
        return rows[:limit], encode_token("r", rows[limit - 1][0]) if len(rows) > limit else None

    def list_results(
        self, team: str, batch_id: str, limit: int | None, token: str | None
    ) -> tuple[list[tuple[str, bytes]], str | None]:
        batch = self.require_batch(team, batch_id)
        limit = check_limit(limit)
        rows = self.store.list_results(batch.pk, limit + 1, decode_token("r", token))
        return rows[:limit], encode_token("r", rows[limit - 1][0]) if len(rows) > limit else None

    def request_result(self, team: str, batch_id: str, request_id: str) -> StoredRequest:
        """One request as added, with its result if it has one, or a 404."""
        batch = self.require_batch(team, batch_id)
        found = self.store.get_request(batch.pk, request_id)
        if found is None:
            raise NotFound(f"Cannot find batch request with ID {request_id[:200]!r}")
        return found

    def cost_breakdown(self, batch: BatchRow) -> list[tuple[str, int, int]]:
        """(endpoint, requests, ticks) per endpoint over the batch's succeeded requests."""
        merged: dict[str, list[int]] = {}
        for kind, count, ticks in self.store.batch_costs(batch.pk):
            pair = merged.setdefault(ENDPOINTS.get(kind, kind), [0, 0])
            pair[0] += count
            pair[1] += int(ticks)
        return [(endpoint, count, ticks) for endpoint, (count, ticks) in sorted(merged.items())]

    # -- files ---------------------------------------------------------------------------------

    def require_file(self, team: str, file_id: str) -> None:
        if not FILE_ID_RE.fullmatch(file_id) or self.store.get_file(team, file_id) is None:
            raise NotFound(f"Cannot find file with ID {file_id[:200]!r}")

    # -- the tokenizer and the model list ------------------------------------------------------

    def language_models(self) -> list[ModelPrice]:
        """The admitted text models (catalogue entries, aliases folded in), in admitted order."""
        out: dict[str, ModelPrice] = {}
        for name in self.models:
            if name == "*":  # a model map's catch-all is no model of its own
                continue
            price = self.price_of(name)
            if price.kind == "text":
                out.setdefault(price.name, price)
        return list(out.values())

    def language_model(self, name: str) -> ModelPrice:
        for price in self.language_models():
            if name == price.name or name in price.aliases:
                return price
        if "*" in self.models and name:  # a model map's catch-all takes every model it is sent
            return self.price_of(name)
        raise NotFound(
            f"The model {name[:200]} does not exist or your team does not have access to it."
        )

    def tokenize(self, text: str, model: str) -> list[Token]:
        """The simulated tokenizer's tokens of ``text`` for an admitted text model."""
        self.language_model(model)
        if len(text) > MAX_TOKENIZE_CHARS:
            raise InvalidArgument(
                f"text is longer than {MAX_TOKENIZE_CHARS:,} characters; tokenize it in parts"
            )
        return tokenize(text)
