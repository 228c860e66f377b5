"""Encode source batches into Batch API request items, as Arrow strings of JSON bytes.

The hot path builds no Python object per row: request IDs and texts are Arrow string arrays,
JSON-escaped in bulk (:mod:`batchframe.frame.escape`) and glued to the spec's pre-serialised
constant fragments by one Arrow element-wise join, whose data buffer *is* the request bytes.

An item is ``{"batch_request_id":"<id>","batch_request":{"chat_get_completion":{"model":"<m>",
"messages":[...],<params>}}}``. For sending, each item is followed by one comma (the last one
too), so any consecutive run of items is one slice of the buffer (:class:`EncodedRequests`); for
the dry run (:func:`to_requests`) the items have no separator and *are* the ``body`` column.

>>> enc = encode_requests(pd.DataFrame({"q": ["hi"]}), prompt="q", model="grok-4.3")
>>> enc.ids, len(enc), enc.payload(0, 1).startswith(b'{"batch_requests":[{')
(['0'], 1, True)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from batchframe._config import MAX_REQUEST_BYTES
from batchframe._hints import Term, arg, say
from batchframe.frame.columns import name_values
from batchframe.frame.escape import as_large_strings, json_escape, string_buffers
from batchframe.frame.messages import messages_array
from batchframe.frame.sources import BATCH_ROWS, PandasSource, Source, SourceBatch, as_source
from batchframe.frame.spec import RequestSpec
from batchframe.frame.template import format_template

__all__ = [
    "ENVELOPE",
    "EncodedPart",
    "EncodedRequests",
    "body_keys",
    "chunk_bounds",
    "encode_batch",
    "encode_requests",
    "encode_source",
    "to_requests",
]

_OPEN = b'{"batch_requests":['
_CLOSE = b"]}"
#: The bytes of an add call's body around its items.
ENVELOPE = len(_OPEN) + len(_CLOSE)


@dataclass(frozen=True, eq=False)
class EncodedPart:
    """The encoded requests of one source batch.

    ``items`` holds one JSON item per encoded row (followed by a comma when ``separated``);
    ``rows`` are their 0-based row numbers in the whole input. Rows left out for a null prompt
    (``on_null="skip"``) are in ``skipped_ids`` / ``skipped_rows``.
    """

    ids: pa.LargeStringArray
    items: pa.LargeStringArray
    rows: npt.NDArray[np.int64]
    skipped_ids: pa.LargeStringArray
    skipped_rows: npt.NDArray[np.int64]
    separated: bool = True
    #: Each request's dedup key (``with_keys``): see :func:`body_keys`.
    keys: npt.NDArray[np.uint64] | None = None

    def __len__(self) -> int:
        return len(self.items)

    @cached_property
    def _buffers(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
        return string_buffers(self.items)

    @property
    def offsets(self) -> npt.NDArray[np.int64]:
        return self._buffers[0]

    @property
    def data(self) -> npt.NDArray[np.uint8]:
        return self._buffers[1]

    def item_sizes(self) -> npt.NDArray[np.int64]:
        """The byte size of every item (without its comma)."""
        return np.diff(self.offsets) - int(self.separated)

    def view(self, start: int, stop: int) -> memoryview:
        """Items ``start:stop`` as one slice of bytes, comma-separated, without the last comma."""
        offsets = self.offsets
        return self.data[offsets[start] : offsets[stop] - 1].data


def body_keys(body: pa.LargeStringArray) -> npt.NDArray[np.uint64]:
    """Two 64-bit hashes of each row's variable part (``n x 2``): the dedup key within one job.

    Within a job every request is built by one spec from the same constant fragments, so equal
    variable parts are equal bodies. Hashed in bulk by polars (no Python per row); its hash is
    stable within a polars version only, so these keys never leave the job (the result cache
    keys requests by BLAKE2b of their bytes instead, :func:`batchframe.frame.dedup.request_keys`).
    """
    import polars as pl

    series = pl.from_arrow(body)
    assert isinstance(series, pl.Series)
    keys = np.empty((len(body), 2), dtype=np.uint64)
    keys[:, 0] = series.hash(seed=0).to_numpy()
    keys[:, 1] = series.hash(seed=0x5EED_BA7C).to_numpy()
    return keys


def encode_batch(
    spec: RequestSpec, batch: SourceBatch, *, separated: bool = True, with_keys: bool = False
) -> EncodedPart:
    """Validate one source batch and encode a request item per row (see the module docstring);
    ``with_keys``: each request's dedup key too."""
    ids = batch.ids(spec.id_column)
    rows = np.arange(batch.first_row, batch.first_row + batch.num_rows, dtype=np.int64)
    skipped_ids = pa.array([], pa.large_string())
    skipped_rows = np.empty(0, dtype=np.int64)
    nulls = {column: batch.is_null(column) for column in spec.null_columns}
    null = np.logical_or.reduce(list(nulls.values())) if nulls else None
    if null is not None and null.any():
        bad = ids.filter(pa.array(null))
        if spec.on_null == "error":
            raise null_error(spec, nulls, ids)
        keep = np.flatnonzero(~null).astype(np.int64)
        skipped_ids, skipped_rows = bad, rows[null]
        batch, ids, rows = batch.take(keep), ids.take(pa.array(keep)), rows[keep]
    if spec.messages is not None:
        body = messages_array(batch.values(spec.messages), ids, spec.messages, spec.system)
    elif spec.prompt is not None:
        body = json_escape(batch.text(spec.prompt, ids))
    else:
        body = json_escape(format_template(batch, str(spec.template), ids))
    head, tail = spec.fragments
    keys = body_keys(body) if with_keys else None
    items = _join([b'{"batch_request_id":"', json_escape(ids), head, body, tail + b"," * separated])
    part = EncodedPart(ids, items, rows, skipped_ids, skipped_rows, separated, keys)
    _check_sizes(part, spec.max_request_bytes)
    return part


def null_error(
    spec: RequestSpec, nulls: dict[Any, npt.NDArray[np.bool_]], ids: pa.LargeStringArray
) -> ValueError:
    """The error for null cells in the columns a row's text is built from, naming the rows."""
    found = [(c, ids.filter(pa.array(m)).to_pylist()) for c, m in nulls.items() if m.any()]
    where = "; ".join(f"{len(bad)} row(s) of {c!r}: {name_values(bad)}" for c, bad in found)
    if spec.template is None:
        what = f"column {found[0][0]!r} is null for {len(found[0][1])} row(s): "
        what += name_values(found[0][1])
    else:
        fields = ", ".join("{" + str(c) + "}" for c, _ in found)
        what = f"template field(s) {fields} are null ({where}); a null is never sent as text"
    example = repr({found[0][0]: "unknown"})
    return ValueError(
        say(
            what + "; ",
            Term(
                f"fill them (.fillna({example}) sends that text), drop them",
                "fill those cells in INPUT (an empty cell is null), drop those rows",
            ),
            ", or pass ",
            arg("on_null", "skip"),
            " to leave those rows out",
        )
    )


def _join(segments: list[bytes | pa.LargeStringArray]) -> pa.LargeStringArray:
    """Constant fragments and per-row arrays joined element-wise: one buffer of every item."""
    parts = [
        pa.scalar(s.decode("utf-8"), pa.large_string()) if isinstance(s, bytes) else s
        for s in segments
    ]
    return as_large_strings(pc.binary_join_element_wise(*parts, pa.scalar("", pa.large_string())))


def _check_sizes(part: EncodedPart, limit: int) -> None:
    """Each item, alone in an add call (the envelope counted), must fit the body limit."""
    sizes = part.item_sizes() + ENVELOPE
    over = np.flatnonzero(sizes > limit)
    if over.size:
        shown = [f"{part.ids[int(i)].as_py()} ({int(sizes[i]):,} bytes)" for i in over[:5]]
        raise ValueError(
            f"{over.size} request(s) exceed the {limit:,}-byte limit per request (an add call's "
            f"envelope counted): {', '.join(shown)}; shorten those prompts or split them"
        )


def encode_source(
    spec: RequestSpec,
    source: Source,
    *,
    separated: bool = True,
    batch_rows: int = BATCH_ROWS,
    with_keys: bool = False,
) -> Iterator[EncodedPart]:
    """Encode every batch of ``source`` in order (after the checks that need no rows)."""
    spec.check_columns(source.column_names)
    for batch in source.batches(spec.columns(), batch_rows):
        yield encode_batch(spec, batch, separated=separated, with_keys=with_keys)


class EncodedRequests:
    """Encoded parts seen as one sequence of items, for chunking and sending.

    >>> enc = encode_requests(pd.DataFrame({"q": ["a", "b"]}), prompt="q", model="m")
    >>> enc.payload(1, 2).decode()[:40]
    '{"batch_requests":[{"batch_request_id":"'
    """

    def __init__(self, parts: Iterable[EncodedPart]) -> None:
        self.parts = [p for p in parts if len(p) or len(p.skipped_ids)]
        counts = [len(p) for p in self.parts]
        self.starts = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=self.starts[1:])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __repr__(self) -> str:
        return f"EncodedRequests(n={len(self)}, parts={len(self.parts)})"

    @cached_property
    def id_array(self) -> pa.ChunkedArray:
        """The request IDs of the encoded rows, in input order."""
        return pa.chunked_array([p.ids for p in self.parts], pa.large_string())

    @property
    def ids(self) -> list[str]:
        """The request IDs as Python strings (small inputs and tests)."""
        return self.id_array.to_pylist()  # type: ignore[no-any-return]

    @cached_property
    def skipped_ids(self) -> list[str]:
        return [i for p in self.parts for i in p.skipped_ids.to_pylist()]

    def item(self, i: int) -> bytes:
        """The JSON bytes of item ``i``."""
        return bytes(self._slices(i, i + 1)[0])

    def item_sizes(self) -> npt.NDArray[np.int64]:
        if not self.parts:
            return np.empty(0, dtype=np.int64)
        return np.concatenate([p.item_sizes() for p in self.parts])

    def _slices(self, start: int, stop: int) -> list[memoryview]:
        out: list[memoryview] = []
        first = int(np.searchsorted(self.starts, start, side="right")) - 1
        for k in range(max(first, 0), len(self.parts)):
            base = int(self.starts[k])
            if base >= stop:
                break
            a, b = max(start - base, 0), min(stop - base, len(self.parts[k]))
            if a < b:
                out.append(self.parts[k].view(a, b))
        return out

    def payload(self, start: int = 0, stop: int | None = None) -> bytes:
        """The add-requests body ``{"batch_requests":[...]}`` for items ``start:stop``.

        One copy of the items (a run of items is one slice of a part's buffer).
        """
        stop = len(self) if stop is None else min(stop, len(self))
        return _body(self._slices(start, stop))

    def payload_for(self, indices: Any) -> bytes:
        """The add-requests body for an arbitrary subset of items (used on resume)."""
        picked = np.asarray(indices, dtype=np.int64)
        return _body([self._slices(int(i), int(i) + 1)[0] for i in picked])

    def fingerprint(self, spec: RequestSpec | None = None) -> str:
        """The digest of these requests (see :class:`~batchframe.frame.spec.Fingerprinter`)."""
        from batchframe.frame.spec import Fingerprinter

        hasher = spec.fingerprinter() if spec is not None else Fingerprinter()
        for part in self.parts:
            skipped = "".join(f"{i}\n" for i in part.skipped_ids.to_pylist()).encode()
            hasher.update(part.data.data, part.item_sizes(), skipped)
        return hasher.hexdigest()


def _body(views: list[memoryview]) -> bytes:
    """``{"batch_requests":[`` + the views, comma-separated, + ``]}``, in one allocation."""
    pieces: list[bytes | memoryview] = [_OPEN]
    for k, view in enumerate(views):
        if k:
            pieces.append(b",")
        pieces.append(view)
    pieces.append(_CLOSE)
    return b"".join(pieces)


def encode_requests(data: Any, **arguments: Any) -> EncodedRequests:
    """Validate ``data`` and encode one request item per row, every row at once.

    Takes the arguments of :func:`to_requests`. ``bf.submit`` encodes shard by shard instead;
    this is the one-shot form for small inputs and tests.

    >>> df = pd.DataFrame({"title": ["A", "B"]}, index=["r1", "r2"])
    >>> enc = encode_requests(df, template="Rate {title}", model="grok-4.3", temperature=0)
    >>> enc.item(1).decode()[:40]
    '{"batch_request_id":"r2","batch_request"'
    """
    spec = RequestSpec.build(**arguments)
    source = as_source(data)
    _check_not_empty(source)
    source.check_ids(spec.id_column)
    return EncodedRequests(encode_source(spec, source))


def _check_not_empty(source: Source) -> None:
    if source.num_rows == 0:
        raise ValueError("the input is empty: there is nothing to send")


def to_requests(
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
    max_request_bytes: int = MAX_REQUEST_BYTES,
    **params: Any,
) -> pd.DataFrame:
    """Dry run: the request items ``submit`` would send, one row per input row.

    ``data`` is anything ``submit`` takes (a pandas or polars frame, an Arrow table, files);
    the other arguments are those of :func:`~batchframe.submit` that say what to send:
    ``prompt``/``template``/``messages``, ``system``, ``model``, ``id_column``,
    ``response_model``, ``on_null`` and chat-completion params (names checked against the API's
    fields; ``extra_body={...}`` sends fields batchframe does not know yet, unchecked, in every
    body). Columns ``batch_request_id`` and
    ``body`` (the item's JSON text); the index is the input index of the rows encoded (a pandas
    frame's labels, else row numbers), rows skipped by ``on_null="skip"`` absent.

    >>> out = to_requests(pd.DataFrame({"q": ["hi"]}), prompt="q", model="grok-4.3")
    >>> out.loc[0, "batch_request_id"], out.loc[0, "body"].endswith('"content":"hi"}]}}}')
    ('0', True)
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
        max_request_bytes=max_request_bytes,
        **params,
    )
    source = as_source(data)
    _check_not_empty(source)
    source.check_ids(spec.id_column)
    parts = list(encode_source(spec, source, separated=False))
    if not parts:
        raise ValueError("the input is empty: there is nothing to send")
    dtype = pd.StringDtype()
    ids = pa.chunked_array([p.ids for p in parts], pa.large_string())
    bodies = pa.chunked_array([p.items for p in parts], pa.large_string())
    rows = np.concatenate([p.rows for p in parts])
    index = source.frame.index[rows] if isinstance(source, PandasSource) else pd.Index(rows)
    return pd.DataFrame(
        {"batch_request_id": pd.array(ids, dtype=dtype), "body": pd.array(bodies, dtype=dtype)},
        index=index,
    )


def chunk_bounds(sizes: Any, max_rows: int, max_bytes: int) -> list[tuple[int, int]]:
    """Split items into consecutive ``(start, stop)`` chunks within both limits.

    A chunk's payload (``{"batch_requests":[...]}`` with commas) is at most ``max_bytes``
    unless it is a single item that alone is bigger.

    >>> chunk_bounds([10, 10, 10], max_rows=2, max_bytes=1000)
    [(0, 2), (2, 3)]
    """
    if max_rows < 1 or max_bytes < 1:
        raise ValueError(f"max_rows and max_bytes must be positive, got {max_rows}, {max_bytes}")
    sizes = np.asarray(sizes, dtype=np.int64)
    n = sizes.size
    ends = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(sizes + 1, out=ends[1:])  # each item plus its comma
    budget = max_bytes - ENVELOPE + 1  # the last item has no comma
    bounds: list[tuple[int, int]] = []
    start = 0
    while start < n:
        stop = int(np.searchsorted(ends, ends[start] + budget, side="right")) - 1
        stop = min(max(stop, start + 1), start + max_rows, n)
        bounds.append((start, stop))
        start = stop
    return bounds
