"""Encode DataFrame rows into Batch API request items, as one buffer of JSON bytes.

The hot path builds no Python object per row: request IDs and texts become Arrow string arrays,
are JSON-escaped in bulk (:mod:`batchframe.frame.escape`) and glued to pre-serialised constant
fragments by one Arrow element-wise join, whose data buffer *is* the request buffer.

An item is ``{"batch_request_id":"<id>","batch_request":{"chat_get_completion":{"model":"<m>",
"messages":[...],<params>}}}``. ``EncodedRequests.buffer`` holds every item followed by one comma
(the last one too), so item ``i`` is ``buffer[offsets[i]:offsets[i+1]-1]`` and any consecutive
run of items is one slice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from batchframe._config import MAX_REQUEST_BYTES
from batchframe.frame.columns import check_columns, name_values, request_ids, text_array
from batchframe.frame.escape import as_large_strings, json_escape, string_buffers
from batchframe.frame.messages import messages_array
from batchframe.frame.template import format_template

__all__ = ["EncodedRequests", "chunk_bounds", "encode_requests", "to_requests"]

_OPEN = b'{"batch_requests":['
_CLOSE = b"]}"
_FORBIDDEN = ("stream", "stream_options", "messages", "model")
_VERSION = b"batchframe-encode-1"


@dataclass(frozen=True, eq=False)
class EncodedRequests:
    """Encoded request items: one buffer, offsets, and the IDs in input order.

    >>> enc = encode_requests(pd.DataFrame({"q": ["hi"]}), prompt="q", model="grok-4.3")
    >>> enc.ids, len(enc), enc.payload(0, 1).startswith(b'{"batch_requests":[{')
    (['0'], 1, True)
    """

    id_array: pa.LargeStringArray
    skipped_ids: list[str]
    row_positions: npt.NDArray[np.int64]
    #: A read-only view of the joined items (no copy of the Arrow buffer it was built in).
    buffer: memoryview
    offsets: npt.NDArray[np.int64]
    model: str
    settings: bytes = field(default=b"", repr=False)

    def __repr__(self) -> str:
        return (
            f"EncodedRequests(n={len(self)}, bytes={len(self.buffer)}, model={self.model!r}, "
            f"skipped={len(self.skipped_ids)})"
        )

    @cached_property
    def ids(self) -> list[str]:
        """The request IDs, in input order (skipped rows excluded)."""
        return self.id_array.to_pylist()  # type: ignore[no-any-return]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def item(self, i: int) -> bytes:
        """The JSON bytes of item ``i``."""
        return bytes(self.buffer[self.offsets[i] : self.offsets[i + 1] - 1])

    def item_sizes(self) -> npt.NDArray[np.int64]:
        """The byte size of every item (without its separating comma)."""
        return np.diff(self.offsets) - 1

    def payload(self, start: int = 0, stop: int | None = None) -> bytes:
        """The add-requests body ``{"batch_requests":[...]}`` for items ``start:stop``."""
        stop = len(self) if stop is None else min(stop, len(self))
        if start >= stop:
            return _OPEN + _CLOSE
        return b"".join((_OPEN, self.buffer[self.offsets[start] : self.offsets[stop] - 1], _CLOSE))

    def payload_for(self, indices: Any) -> bytes:
        """The add-requests body for an arbitrary subset of items (used on resume)."""
        view = self.buffer
        offsets = self.offsets
        items = [view[offsets[i] : offsets[i + 1] - 1] for i in np.asarray(indices, dtype=np.int64)]
        return b"".join((_OPEN, b",".join(items), _CLOSE))

    def fingerprint(self) -> str:
        """A stable blake2b digest of the items and the settings that made them."""
        digest = hashlib.blake2b(digest_size=20)
        for part in (_VERSION, self.settings, orjson.dumps(self.skipped_ids), self.buffer):
            digest.update(len(part).to_bytes(8, "little"))  # memoryview len == bytes here
            digest.update(part)
        return digest.hexdigest()


def _check_field_names(df: pd.DataFrame, response_model: Any) -> None:
    """Structured-output fields become columns; refuse names that would overwrite another."""
    if response_model is None:
        return
    from batchframe.frame.decode import RESULT_COLUMNS

    fields = list(response_model.model_fields)
    taken = {*RESULT_COLUMNS, "parse_error"}
    clash = [f for f in fields if f in taken]
    if clash:
        raise ValueError(
            f"response_model fields {clash} have the names of result columns; rename them in "
            "the model (for example with a suffix)"
        )
    clash = [f for f in fields if f in df.columns]
    if clash:
        raise ValueError(
            f"response_model fields {clash} have the names of input columns, whose values the "
            "parsed answers would replace; rename the fields in the model or the columns"
        )


def _params_json(params: dict[str, Any], response_model: Any) -> bytes:
    bad = [key for key in _FORBIDDEN if key in params]
    if bad:
        raise ValueError(
            f"{', '.join(bad)} cannot be passed as a request parameter: batchframe sets model and "
            "messages itself (use model=, prompt=/template=/messages=) and batches never stream"
        )
    if response_model is not None:
        if params.get("response_format") is not None:
            raise ValueError("pass either response_model= or response_format=, not both")
        from batchframe.frame.structured import response_format_for

        params = {**params, "response_format": response_format_for(response_model)}
    params = {key: value for key, value in params.items() if value is not None}
    try:
        text = orjson.dumps(params, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError as exc:
        raise ValueError(f"request parameters are not JSON-serialisable: {exc}") from None
    return b"," + text[1:-1] if params else b""


def _check_args(
    df: pd.DataFrame, prompt: Any, template: Any, messages: Any, model: Any, on_null: str
) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"expected a pandas DataFrame, got {type(df).__name__}")
    given = [
        name
        for name, v in (("prompt", prompt), ("template", template), ("messages", messages))
        if v is not None
    ]
    if len(given) != 1:
        raise ValueError(
            "pass exactly one of prompt= (a text column), template= (a str.format string over "
            f"columns) or messages= (a column of message lists); got {given or 'none'}"
        )
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"model must be a non-empty model name such as 'grok-4.3', got {model!r}")
    if on_null not in ("error", "skip"):
        raise ValueError(f"on_null must be 'error' or 'skip', got {on_null!r}")
    if len(df) == 0:
        raise ValueError("the DataFrame is empty: there is nothing to send")
    for name, column in (("prompt", prompt), ("messages", messages)):
        if column is not None:
            check_columns(df, [column], f"{name}=")


def encode_requests(
    df: pd.DataFrame,
    *,
    prompt: Any = None,
    template: str | None = None,
    messages: Any = None,
    system: str | None = None,
    model: str,
    id_column: Any = None,
    response_model: Any = None,
    on_null: str = "error",
    max_request_bytes: int = MAX_REQUEST_BYTES,
    **params: Any,
) -> EncodedRequests:
    """Validate ``df`` and encode one request item per row (see the module docstring).

    Exactly one of ``prompt`` (a text column), ``template`` (a ``str.format`` string over
    columns) or ``messages`` (a column of message lists or their JSON text). ``system`` is sent
    as a first system message; ``params`` go into each body (those set to ``None`` are left out). Rows with a null prompt or
    messages cell raise, or with ``on_null="skip"`` are left out and listed in ``skipped_ids``.

    >>> df = pd.DataFrame({"title": ["A", "B"]}, index=["r1", "r2"])
    >>> enc = encode_requests(df, template="Rate {title}", model="grok-4.3", temperature=0)
    >>> enc.item(1).decode()[:40]
    '{"batch_request_id":"r2","batch_request"'
    """
    _check_args(df, prompt, template, messages, model, on_null)
    if system is not None and not isinstance(system, str):
        raise ValueError(f"system must be a str, got {type(system).__name__}")
    params_json = _params_json(params, response_model)
    _check_field_names(df, response_model)
    ids = request_ids(df, id_column)
    column = prompt if prompt is not None else messages
    frame, ids, positions, skipped = _drop_nulls(df, ids, column, on_null)
    if messages is not None:
        body = messages_array(frame[messages], ids, messages, system)
    else:
        text = text_array(frame[prompt], ids, prompt) if prompt is not None else None
        body = json_escape(text if text is not None else format_template(frame, str(template)))
    head, tail = _fragments(model, system, params_json, chat=messages is None)
    buffer, offsets = _assemble([b'{"batch_request_id":"', json_escape(ids), head, body, tail])
    _check_sizes(ids, offsets, max_request_bytes)
    mode = "prompt" if prompt is not None else "template" if template is not None else "messages"
    settings = orjson.dumps([mode, str(id_column), on_null], option=orjson.OPT_NON_STR_KEYS)
    return EncodedRequests(ids, skipped, positions, buffer, offsets, model, settings)


def _drop_nulls(
    df: pd.DataFrame, ids: pa.LargeStringArray, column: Any, on_null: str
) -> tuple[pd.DataFrame, pa.LargeStringArray, npt.NDArray[np.int64], list[str]]:
    """Rows whose prompt/messages cell is null: an error, or left out (``on_null="skip"``)."""
    positions = np.arange(len(df), dtype=np.int64)
    null = np.asarray(df[column].isna(), dtype=bool) if column is not None else None
    if null is None or not null.any():
        return df, ids, positions, []
    bad: list[str] = ids.filter(pa.array(null)).to_pylist()
    if on_null == "error":
        raise ValueError(
            f"column {column!r} is null for {len(bad)} row(s): {name_values(bad)}; "
            "fill them, drop them, or pass on_null='skip'"
        )
    positions = np.flatnonzero(~null).astype(np.int64)
    return df.iloc[positions], ids.take(pa.array(positions)), positions, bad


def _fragments(
    model: str, system: str | None, params_json: bytes, *, chat: bool
) -> tuple[bytes, bytes]:
    """The constant JSON between a row's ID and its text (head) and after the text (tail)."""
    head = b'","batch_request":{"chat_get_completion":{"model":' + orjson.dumps(model)
    if not chat:  # a messages column: the row's own JSON list follows
        return head + b',"messages":', params_json + b"}}},"
    first = orjson.dumps({"role": "system", "content": system}) + b"," if system else b""
    head += b',"messages":[' + first + b'{"role":"user","content":"'
    return head, b'"}]' + params_json + b"}}},"


def _assemble(
    segments: list[bytes | pa.LargeStringArray],
) -> tuple[memoryview, npt.NDArray[np.int64]]:
    """Join constant fragments and per-row arrays element-wise; return the buffer and offsets.

    The buffer is a view of Arrow's result: copying it to ``bytes`` would cost a second
    payload-sized allocation (about 230 MB at a million rows).
    """
    parts = [
        pa.scalar(s.decode("utf-8"), pa.large_string()) if isinstance(s, bytes) else s
        for s in segments
    ]
    joined = as_large_strings(pc.binary_join_element_wise(*parts, pa.scalar("", pa.large_string())))
    offsets, data = string_buffers(joined)
    view = data.data  # ndarray.data: a memoryview of the same memory
    return view.toreadonly(), offsets.copy()


def _check_sizes(ids: pa.LargeStringArray, offsets: npt.NDArray[np.int64], limit: int) -> None:
    sizes = np.diff(offsets) - 1
    over = np.flatnonzero(sizes > limit)
    if over.size:
        shown = [f"{ids[int(i)].as_py()} ({int(sizes[i]):,} bytes)" for i in over[:5]]
        raise ValueError(
            f"{over.size} request(s) exceed the {limit:,}-byte limit per request: "
            f"{', '.join(shown)}; shorten those prompts or split them"
        )


def to_requests(
    df: pd.DataFrame,
    *,
    prompt: Any = None,
    template: str | None = None,
    messages: Any = None,
    system: str | None = None,
    model: str,
    id_column: Any = None,
    response_model: Any = None,
    on_null: str = "error",
    max_request_bytes: int = MAX_REQUEST_BYTES,
    **params: Any,
) -> pd.DataFrame:
    """Dry run: the request items :func:`encode_requests` would send, one row per input row.

    Columns ``batch_request_id`` and ``body`` (the item's JSON text); the index is the input
    index of the rows encoded (rows skipped by ``on_null="skip"`` are absent).

    >>> out = to_requests(pd.DataFrame({"q": ["hi"]}), prompt="q", model="grok-4.3")
    >>> out.loc[0, "batch_request_id"], out.loc[0, "body"].endswith('"content":"hi"}]}}}')
    ('0', True)
    """
    enc = encode_requests(
        df,
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
    items = pa.LargeStringArray.from_buffers(
        len(enc), pa.py_buffer(enc.offsets), pa.py_buffer(enc.buffer)
    )
    bodies = pc.utf8_slice_codeunits(items, 0, -1)  # drop each item's trailing comma
    dtype = pd.StringDtype()
    return pd.DataFrame(
        {
            "batch_request_id": pd.array(enc.id_array, dtype=dtype),
            "body": pd.array(bodies, dtype=dtype),
        },
        index=df.index[enc.row_positions],
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
    budget = max_bytes - len(_OPEN) - len(_CLOSE) + 1  # the last item has no comma
    bounds: list[tuple[int, int]] = []
    start = 0
    while start < n:
        stop = int(np.searchsorted(ends, ends[start] + budget, side="right")) - 1
        stop = min(max(stop, start + 1), start + max_rows, n)
        bounds.append((start, stop))
        start = stop
    return bounds
