"""JSON-escape a whole Arrow string column at once (no Python object per row).

The result holds, for each input string, the body of its JSON string literal (the text between
the quotes). ``"`` and ``\\`` become ``\\"`` and ``\\\\``; ``\\b \\f \\n \\r \\t`` their short
escapes; other control characters ``\\u00XX``; everything else (non-ASCII included) stays raw
UTF-8, exactly as ``orjson`` writes it.

>>> import pyarrow as pa
>>> json_escape(pa.array(['say "hi"', "a\\nb"])).to_pylist()
['say \\\\"hi\\\\"', 'a\\\\nb']
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa

__all__ = ["as_large_strings", "json_escape", "string_buffers"]

# byte -> the letter after the backslash (0 = needs the long \u00XX form)
_SHORT = np.zeros(256, dtype=np.uint8)
for _byte, _letter in {8: b"b", 9: b"t", 10: b"n", 12: b"f", 13: b"r", 34: b'"', 92: b"\\"}.items():
    _SHORT[_byte] = _letter[0]


def as_large_strings(values: pa.Array | pa.ChunkedArray) -> pa.LargeStringArray:
    """One contiguous ``large_string`` array (chunks combined, cast if needed)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if values.type != pa.large_string():
        values = values.cast(pa.large_string())
    return values


def string_buffers(
    values: pa.LargeStringArray,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """Offsets (starting at 0, length n+1) and the data bytes of a ``large_string`` array."""
    _, off_buf, data_buf = values.buffers()
    n = len(values)
    offsets = np.frombuffer(off_buf, dtype=np.int64)[values.offset : values.offset + n + 1]
    if data_buf is None or n == 0:
        return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    start, stop = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(data_buf, dtype=np.uint8)[start:stop]
    return offsets - start, data


_STEP = 1 << 18  # bytes per chunk: the temporaries stay in cache


def _special_positions(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.intp]:
    """Positions of the bytes JSON must escape (controls, quote, backslash), chunk by chunk."""
    mask = np.empty(min(_STEP, data.size), dtype=bool)
    scratch = np.empty_like(mask)
    found = [np.zeros(0, dtype=np.intp)]
    for start in range(0, data.size, _STEP):
        chunk = data[start : start + _STEP]
        m, t = mask[: chunk.size], scratch[: chunk.size]
        np.less(chunk, 32, out=m)
        np.equal(chunk, 34, out=t)
        m |= t
        np.equal(chunk, 92, out=t)
        m |= t
        hits = np.flatnonzero(m)
        if hits.size:
            found.append(hits + start)
    return np.concatenate(found)


def _insert_backslashes(
    data: npt.NDArray[np.uint8], special: npt.NDArray[np.intp]
) -> npt.NDArray[np.uint8]:
    """``data`` with a backslash inserted before each special byte, chunk by chunk.

    The result lives in Arrow's memory pool, like the arrays it becomes part of: numpy's
    buffers of this size would come from malloc's heaps, which keep them after use.
    """
    out = _arrow_bytes(data.size + special.size)
    bounds = np.searchsorted(special, np.arange(0, data.size + _STEP, _STEP))
    keep_buffer = np.empty(2 * _STEP, dtype=bool)
    for k, start in enumerate(range(0, data.size, _STEP)):
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        chunk = data[start : start + _STEP]
        dst = out[start + lo : start + hi + chunk.size]
        if hi == lo:
            dst[:] = chunk
            continue
        slashes = special[lo:hi] - start + np.arange(hi - lo)
        keep = keep_buffer[: dst.size]
        keep.fill(True)
        keep[slashes] = False
        dst[keep] = chunk
        dst[slashes] = 92
    return out


def _arrow_bytes(size: int) -> npt.NDArray[np.uint8]:
    """A writable uint8 array over a new buffer of Arrow's memory pool."""
    buffer = pa.allocate_buffer(max(size, 1))
    return np.frombuffer(buffer, dtype=np.uint8, count=size)


def json_escape(values: pa.Array | pa.ChunkedArray) -> pa.LargeStringArray:
    """Escape every string of a null-free Arrow string array as a JSON string body."""
    values = as_large_strings(values)
    if values.null_count:
        raise ValueError("json_escape needs an array without nulls")
    offsets, data = string_buffers(values)
    special = _special_positions(data)
    if special.size == 0:
        return values
    letters = _SHORT[data[special]]
    # specials before each string start: searching n offsets among the specials is the cheap way
    before = np.searchsorted(special, offsets)
    if letters.all():
        # every escape is two bytes: insert a backslash before each special byte
        out = _insert_backslashes(data, special)
        out[special + np.arange(1, special.size + 1)] = letters
        new_offsets = offsets + before
    else:
        # rare control characters: orjson writes the \u00XX forms for the whole text at once
        out = np.frombuffer(orjson.dumps(data.tobytes().decode("utf-8"))[1:-1], dtype=np.uint8)
        added = np.zeros(special.size + 1, dtype=np.int64)
        np.cumsum(np.where(letters == 0, 5, 1), out=added[1:])
        new_offsets = offsets + added[before]
    if new_offsets[-1] != out.size:  # pragma: no cover - would mean orjson changed its escapes
        raise RuntimeError("JSON escaping produced an unexpected length")
    return pa.LargeStringArray.from_buffers(
        len(values), pa.py_buffer(new_offsets), pa.py_buffer(out)
    )
