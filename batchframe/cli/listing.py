"""``batchframe ls``: the team's batches as a table, in the order the API lists them.

Batches are read from the raw pages, so a time is shown exactly as the API sent it: the REST API
sends dates (``2025-11-11``), never a made-up ``00:00``.

>>> rows = [Listed({"batch_id": "batch_1", "name": "reviews", "create_time": "2025-11-11",
...                 "state": {"num_requests": 3, "num_success": 3}})]
>>> print("\\n".join(table(rows)))
BATCH_ID  CREATED     REQUESTS  SUCCEEDED  FAILED  CANCELLED  PENDING  NAME
batch_1   2025-11-11         3          3       0          0        0  reviews
"""

from __future__ import annotations

import fnmatch
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pydantic

from batchframe.client import Client
from batchframe.errors import PaginationError, UnexpectedResponseError
from batchframe.models import Batch, parse_time

__all__ = ["Listed", "iter_listed", "read_batch", "select", "shown_time", "table"]

#: The columns of the table (NAME last: names are free text and vary in length).
HEADER = ("BATCH_ID", "CREATED", "REQUESTS", "SUCCEEDED", "FAILED", "CANCELLED", "PENDING", "NAME")
#: Batches asked for per page when paging through all of them.
PAGE_SIZE = 100


def read_batch(raw: Any) -> Batch:
    """A batch from its JSON as sent; one batchframe cannot read is an API error, not a bug."""
    try:
        return Batch.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise UnexpectedResponseError(
            f"the API sent a batch batchframe cannot read: {exc.errors()[0]['msg']}",
            status_code=200,
            body_start=orjson.dumps(raw)[:200].decode("utf-8", "replace"),
        ) from None


@dataclass(frozen=True)
class Listed:
    """One batch of a listing: its JSON as the API sent it, and the parsed counters."""

    raw: dict[str, Any]
    batch: Batch = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "batch", read_batch(self.raw))


def iter_listed(client: Client, page_size: int = PAGE_SIZE) -> Iterator[Listed]:
    """Every batch of the team, page after page, as :class:`Listed`."""
    token: str | None = None
    seen: set[str] = set()
    while True:
        page = orjson.loads(client.fetch_batches_page(page_size, token))
        if not isinstance(page, dict):
            raise UnexpectedResponseError(
                "the API sent a page of batches that is not a JSON object",
                status_code=200,
                body_start=orjson.dumps(page)[:200].decode("utf-8", "replace"),
            )
        for raw in page.get("batches") or []:
            yield Listed(raw)
        token = page.get("pagination_token") or None
        if token is None:
            return
        if token in seen:  # a server that repeats a token would loop forever
            raise PaginationError(f"the server repeated pagination token {token!r}")
        seen.add(token)


def select(
    listed: Iterable[Listed], *, pattern: str | None, limit: int | None
) -> tuple[list[Listed], bool]:
    """The first ``limit`` batches (all with ``None``) whose name matches the glob ``pattern``,
    and whether more would match. Reads one batch past the limit to know, and no further.

    ``pattern`` is a shell-style glob over the whole name, case-sensitive (``*``, ``?``, ``[ab]``).

    >>> named = [Listed({"batch_id": f"b{i}", "name": n}) for i, n in enumerate(["a-1", "b", "a-2"])]
    >>> rows, more = select(named, pattern="a-*", limit=1)
    >>> [r.batch.name for r in rows], more
    (['a-1'], True)
    """
    if pattern is not None:
        listed = (item for item in listed if fnmatch.fnmatchcase(item.batch.name, pattern))
    if limit is None:
        return list(listed), False
    taken = list(itertools.islice(listed, limit + 1))
    return taken[:limit], len(taken) > limit


def shown_time(value: Any) -> str:
    """A time as the API sent it: a date stays a date (``None`` is ``-``).

    >>> shown_time("2025-11-11"), shown_time("2025-11-11T10:20:30Z"), shown_time(None)
    ('2025-11-11', '2025-11-11T10:20:30Z', '-')
    """
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        return value
    parsed = parse_time(value)  # a number or a protobuf-style object: shown in RFC 3339
    return "-" if parsed is None else parsed.isoformat().replace("+00:00", "Z")


def table(rows: Iterable[Listed]) -> list[str]:
    """The header and one aligned line per batch (numbers right-aligned, names left)."""
    cells = [list(HEADER)]
    for row in rows:
        b = row.batch
        cells.append(
            [
                b.batch_id,
                shown_time(row.raw.get("create_time")),
                *map(str, (b.num_requests, b.num_success, b.num_error)),
                *map(str, (b.num_cancelled, b.num_pending)),
                b.name,
            ]
        )
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADER))]
    lines = []
    for line in cells:
        parts = [
            cell.rjust(width) if 2 <= i <= 6 else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
    return lines
