"""Dedup and the cache at submit: each shard's *plan* says which requests are sent at all.

Within a job, a request's dedup key is a 128-bit hash of the part of its body that varies
(:func:`~batchframe.frame.encode.body_keys`: the rest comes from one spec); across jobs, the
result cache keys it by BLAKE2b of its canonical body (the item's bytes after its ID: model,
messages, params; :func:`request_keys`), computed only when the cache holds entries for the
server, or when ``results()`` stores answers. Before a shard is sent its plan marks each request
``batch`` (sent), ``duplicate`` (the same key as an earlier request of this job, in this shard
or an earlier one) or ``cache`` (an earlier job's succeeded answer is in the result cache); only
``batch`` requests go to the server. The plan is written beside the job's manifest (an Arrow
file per shard: row, ID, key, origin, and a duplicate's source row, ID and shard) *before* the
shard's batch is claimed, and a rerun of the same submit loads it instead of planning again: what
a shard sends is decided once, so reattaching never re-sends nor mis-joins, whatever the cache
holds by then. The job's identity (fingerprints, the default name) stays that of *every* request,
so it does not depend on the cache either.

Memory stays bounded by one shard: a shard is planned against the earlier shards' plan files read
one at a time (about 40 bytes a request on disk), never against the whole job in memory.

>>> import pandas as pd
>>> from batchframe.frame.encode import encode_requests
>>> enc = encode_requests(pd.DataFrame({"q": ["a", "b", "a"]}), prompt="q", model="m")
>>> keys = request_keys(enc.parts[0]).to_pylist()
>>> keys[0] == keys[2] != keys[1]
True
>>> from batchframe.frame.shards import iter_shards
>>> from batchframe.frame.sources import as_source
>>> from batchframe.frame.spec import RequestSpec
>>> spec, data = RequestSpec.build(prompt="q", model="m"), pd.DataFrame({"q": ["a", "b", "a"]})
>>> shard = next(iter_shards(spec, as_source(data), 10, with_keys=True))
>>> plan = build_plan(shard, dedup=True, cache=None, server="s", earlier=lambda: iter([]))
>>> plan["origin"].to_pylist(), plan["source_id"].to_pylist()
([0, 0, 1], [None, None, '0'])
"""

from __future__ import annotations

import hashlib
import logging
import os
import pathlib
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from batchframe.frame.atomic import replaced_atomically
from batchframe.frame.cache import ResultCache
from batchframe.frame.encode import EncodedPart, EncodedRequests
from batchframe.frame.escape import json_escape
from batchframe.frame.shards import EncodedShard

__all__ = [
    "BATCH",
    "CACHE",
    "DUPLICATE",
    "ORIGINS",
    "PLAN_SCHEMA",
    "PlanFiles",
    "Planner",
    "build_plan",
    "request_keys",
]

logger = logging.getLogger("batchframe")

BATCH, DUPLICATE, CACHE = 0, 1, 2
ORIGINS = ("batch", "duplicate", "cache")
_ID_START = len(b'{"batch_request_id":"')
_PERSON = b"batchframe-req1"  # the key's version: a new body canonicalisation gets a new one
PLAN_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("id", pa.large_string()),
        ("key", pa.binary(16)),
        ("ckey", pa.binary(16)),
        ("origin", pa.int8()),
        ("source_row", pa.int64()),
        ("source_id", pa.large_string()),
        ("source_shard", pa.int32()),
    ]
)


def request_keys(part: EncodedPart) -> pa.FixedSizeBinaryArray:
    """The 16-byte key of each request of ``part``: BLAKE2b of its item's bytes after the ID.

    The item's JSON is built by one spec from fixed fragments, so equal bodies are equal bytes.
    """
    n = len(part)
    offsets, data = part.offsets, part.data
    id_sizes = pc.binary_length(json_escape(part.ids)).to_numpy(zero_copy_only=False)
    starts = (offsets[:-1] + _ID_START + id_sizes).tolist()
    ends = (offsets[1:] - int(part.separated)).tolist()
    view = memoryview(data.data)
    out = bytearray(16 * n)
    blake = hashlib.blake2b
    at = 0
    for a, b in zip(starts, ends, strict=True):
        out[at : at + 16] = blake(view[a:b], digest_size=16, person=_PERSON).digest()
        at += 16
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(out)])


def _shard_rows(shard: EncodedShard) -> npt.NDArray[np.int64]:
    parts = shard.encoded.parts
    return np.concatenate([p.rows for p in parts]) if parts else np.empty(0, np.int64)


def _index_in(values: pa.Array, value_set: pa.Array) -> npt.NDArray[np.int64]:
    found = pc.index_in(values, value_set=value_set)
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _dedup_keys(shard: EncodedShard) -> npt.NDArray[np.uint64]:
    """The shard's dedup keys (``n x 2``), made as it was encoded (``with_keys=True``)."""
    keys = [p.keys for p in shard.encoded.parts]
    if any(k is None for k in keys):
        raise ValueError("dedup needs the shard encoded with_keys=True")
    return (
        np.concatenate([k for k in keys if k is not None]) if keys else np.empty((0, 2), np.uint64)
    )


def _as_binary(keys: npt.NDArray[np.uint64]) -> pa.FixedSizeBinaryArray:
    data = pa.py_buffer(np.ascontiguousarray(keys).tobytes())
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(keys), [None, data])


Earlier = Callable[[], Iterator[tuple[int, pa.Table]]]


def build_plan(
    shard: EncodedShard,
    *,
    dedup: bool,
    cache: ResultCache | None,
    server: str,
    earlier: Earlier,
) -> pa.Table:
    """The plan of ``shard`` (``PLAN_SCHEMA``, one row per request, in order; see the module
    docstring). ``earlier`` yields ``(index, plan)`` of the job's earlier shards.

    The result cache is asked only when it holds entries for ``server``; only then are the
    requests' cache keys (BLAKE2b, :func:`request_keys`) computed at submit."""
    ids = shard.ids
    rows = _shard_rows(shard)
    n = len(rows)
    raw = _dedup_keys(shard) if dedup else np.zeros((n, 2), np.uint64)
    keys = _as_binary(raw)
    origin = np.zeros(n, dtype=np.int8)
    source = np.full(n, -1, dtype=np.int64)  # the source row of a duplicate
    source_shard = np.full(n, -1, dtype=np.int32)
    source_ids: list[tuple[npt.NDArray[np.int64], pa.Array]] = []
    if dedup and n:
        for index, plan in earlier():
            sent = plan.filter(pc.equal(plan["origin"], BATCH))
            where = _index_in(keys, sent["key"].combine_chunks())
            hit = np.flatnonzero((where >= 0) & (origin == BATCH))
            if hit.size:
                picked = pa.array(where[hit])
                origin[hit], source_shard[hit] = DUPLICATE, index
                source[hit] = np.asarray(sent["row"].take(picked).to_numpy(), dtype=np.int64)
                source_ids.append((hit, sent["id"].take(picked).combine_chunks()))
    cache_keys = pa.nulls(n, pa.binary(16))
    if cache is not None and n and cache.has_server(server):
        cache_keys = pa.concat_arrays([request_keys(p) for p in shard.encoded.parts])
        unique, codes = _factorize(cache_keys)
        held = np.asarray(cache.contains(server, unique), dtype=bool)
        origin[held[codes] & (origin == BATCH)] = CACHE
    if dedup and n:
        import pandas as pd

        codes = pd.factorize(raw[:, 0])[0]
        first = np.full(int(codes.max()) + 1, n, dtype=np.int64)
        first[codes[::-1]] = np.arange(n - 1, -1, -1)
        rep = first[codes]
        same = raw[rep, 1] == raw[:, 1]  # the second hash must agree too: 128 bits in all
        dup = np.flatnonzero((rep != np.arange(n)) & same & (origin == BATCH))
        if dup.size:
            origin[dup], source_shard[dup] = DUPLICATE, shard.index
            source[dup] = rows[rep[dup]]
            source_ids.append((dup, ids.take(pa.array(rep[dup])).combine_chunks()))
    columns = [
        pa.array(rows, pa.int64()),
        ids,
        keys,
        cache_keys,
        pa.array(origin, pa.int8()),
        pa.array(source, mask=source < 0),
        _scatter(n, source_ids),
        pa.array(source_shard, mask=source_shard < 0),
    ]
    chunked = [c if isinstance(c, pa.ChunkedArray) else pa.chunked_array([c]) for c in columns]
    return pa.Table.from_arrays(
        [c.cast(f.type) for c, f in zip(chunked, PLAN_SCHEMA, strict=True)], schema=PLAN_SCHEMA
    )


def _factorize(keys: pa.Array) -> tuple[list[bytes], npt.NDArray[np.int64]]:
    """The distinct ``keys`` (as bytes) and each key's index among them."""
    encoded = pc.dictionary_encode(keys)
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return encoded.dictionary.to_pylist(), codes


def _scatter(n: int, pieces: list[tuple[npt.NDArray[np.int64], pa.Array]]) -> pa.Array:
    """A string column of ``n`` nulls with each piece's values at its positions."""
    if not pieces:
        return pa.nulls(n, pa.large_string())
    where = np.full(n, -1, dtype=np.int64)
    values = pa.concat_arrays([v.cast(pa.large_string()) for _, v in pieces])
    at = 0
    for positions, piece in pieces:
        where[positions] = np.arange(at, at + len(piece))
        at += len(piece)
    return values.take(pa.array(where, mask=where < 0))


def sending_shard(shard: EncodedShard, plan: pa.Table) -> EncodedShard:
    """``shard`` with only its ``batch`` requests (its fingerprint still that of every one)."""
    origin = plan["origin"].to_numpy()
    keep = origin == BATCH
    if keep.all():
        return shard
    fingerprint = shard.fingerprint
    parts: list[EncodedPart] = []
    start = 0
    empty = pa.array([], pa.large_string())
    for part in shard.encoded.parts:
        mask = keep[start : start + len(part)]
        start += len(part)
        picked = pa.array(np.flatnonzero(mask))
        parts.append(
            EncodedPart(
                part.ids.take(picked),
                part.items.take(picked),
                part.rows[mask],
                empty,
                np.empty(0, np.int64),
                part.separated,
            )
        )
    sending = EncodedShard(
        shard.index, shard.first_row, shard.stop_row, EncodedRequests(parts), shard.spec
    )
    sending.__dict__["fingerprint"] = fingerprint  # the identity of every request, sent or not
    sending.reused = int((~keep).sum())
    return sending


class PlanFiles:
    """The plan files of one job: ``<manifest dir>.plans/<manifest name>.plan-<k>.arrow`` (a
    folder beside the manifests, which stay the only files in theirs)."""

    def __init__(self, manifest_path: pathlib.Path) -> None:
        folder = manifest_path.parent
        self.base = folder.with_name(f"{folder.name}.plans") / manifest_path.name

    def path(self, index: int) -> pathlib.Path:
        return self.base.with_name(f"{self.base.stem}.plan-{index}.arrow")

    def write(self, index: int, plan: pa.Table) -> None:
        target = self.path(index)
        target.parent.mkdir(parents=True, exist_ok=True)
        with replaced_atomically(target) as tmp, ipc.new_file(os.fspath(tmp), PLAN_SCHEMA) as w:
            w.write_table(plan)

    def read(self, index: int) -> pa.Table | None:
        try:
            with ipc.open_file(os.fspath(self.path(index))) as reader:
                return reader.read_all()
        except FileNotFoundError:
            return None


class Planner:
    """Plans each shard of one submit (see the module docstring).

    A plan that sends every request of its shard is the same as no plan (a recorded shard
    without a plan file is sent whole), so it is written only once a later shard needs it to
    find duplicates: a one-shard job without duplicates or cached answers writes no file.
    """

    def __init__(
        self, files: PlanFiles, *, dedup: bool, cache: ResultCache | None, server: str
    ) -> None:
        self.files, self.dedup, self.cache, self.server = files, dedup, cache, server
        self._held: tuple[int, pa.Table] | None = None  # an all-batch plan not written yet

    def apply(self, record_fingerprint: str | None, shard: EncodedShard) -> EncodedShard:
        """The shard to send: planned now (a shard not submitted before), or as its plan file
        says (a rerun); a recorded shard without a plan file was sent whole, so it stays whole."""
        if self._held is not None and self.dedup:
            self.files.write(*self._held)  # this shard looks for duplicates in it
        self._held = None
        if record_fingerprint is not None:
            if record_fingerprint != shard.fingerprint:
                return shard  # a different input: submit refuses it
            plan = self.files.read(shard.index)
            if plan is None and self.dedup:  # sent whole: later shards still dedup against it
                self._held = (shard.index, self._plan(shard, cache=False))
            return shard if plan is None else sending_shard(shard, plan)
        plan = self._plan(shard, cache=True)
        if pc.all(pc.equal(plan["origin"], BATCH)).as_py() is not False:
            self.files.path(shard.index).unlink(missing_ok=True)  # a stale one, from a crash
            self._held = (shard.index, plan)
            return shard
        self.files.write(shard.index, plan)
        return sending_shard(shard, plan)

    def _plan(self, shard: EncodedShard, *, cache: bool) -> pa.Table:
        return build_plan(
            shard,
            dedup=self.dedup,
            cache=self.cache if cache else None,
            server=self.server,
            earlier=self._earlier(shard),
        )

    def _earlier(self, shard: EncodedShard) -> Earlier:
        def earlier() -> Iterator[tuple[int, pa.Table]]:
            for index in range(1, shard.index):
                plan = self.files.read(index)
                if plan is not None:
                    yield index, plan

        return earlier
