"""``bf.submit``: encode a frame, create (or reattach to) a batch, upload in chunks, return a Job.

Order matters: everything is validated and encoded before any call; the manifest is written as
soon as the batch exists, so a kernel that dies mid-upload leaves enough behind for the same
``submit`` to reattach and add only what the server does not list yet.

>>> job = bf.submit(df, prompt="review", model="grok-4.3", name="reviews-v1")  # doctest: +SKIP
>>> job.batch_id                                                             # doctest: +SKIP
'batch_...'
"""

from __future__ import annotations

import logging
import os
import pathlib
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from batchframe._config import ChunkPolicy
from batchframe.client import Client
from batchframe.errors import ManifestConflictError, NotFoundError
from batchframe.frame.manifest import (
    Manifest,
    check_fingerprint,
    jsonable_kwargs,
    load_manifest,
    manifest_path,
    write_manifest,
)
from batchframe.frame.upload import CallLimiter, Encoded, upload_requests

if TYPE_CHECKING:
    import pandas as pd

    from batchframe.frame.encode import EncodedRequests
    from batchframe.frame.job import Job

__all__ = ["listed_request_ids", "submit"]

logger = logging.getLogger("batchframe")


def submit(
    df: pd.DataFrame,
    *,
    prompt: Hashable | None = None,
    template: str | None = None,
    messages: Hashable | None = None,
    system: str | None = None,
    model: str,
    id_column: str | None = None,
    response_model: Any = None,
    on_null: str = "error",
    name: str | None = None,
    client: Client | None = None,
    progress: bool = True,
    chunk_rows: int | None = None,
    chunk_bytes: int | None = None,
    calls_per_30s: float | None = None,
    concurrency: int | None = None,
    manifest_dir: str | os.PathLike[str] | None = None,
    **params: Any,
) -> Job:
    """Submit one request per row of ``df`` as a batch and return its :class:`~batchframe.Job`.

    Encoding arguments are those of :func:`~batchframe.to_requests`. Every input problem is a
    ``ValueError`` raised before anything is sent. Rerunning with the same ``name`` (default: one
    derived from the frame and settings) and the same frame reattaches to the batch and adds only
    missing requests; the same name with a different frame raises
    :class:`~batchframe.ManifestConflictError`. Returns at once; ``job.wait()`` follows it.

    >>> job = bf.submit(df, template="Sentiment of: {review}", model="grok-4.3")  # doctest: +SKIP
    >>> job.wait(); out = job.results()                                          # doctest: +SKIP
    """
    from batchframe.frame.encode import encode_requests
    from batchframe.frame.job import Job

    _check_knobs(chunk_rows, chunk_bytes, calls_per_30s, concurrency)
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    encoding: dict[str, Any] = {
        "prompt": prompt,
        "template": template,
        "messages": messages,
        "system": system,
        "model": model,
        "id_column": id_column,
        "response_model": response_model,
        "on_null": on_null,
        **params,
    }
    encoded = encode_requests(df, **encoding)
    if len(encoded) == 0:
        raise ValueError(
            "Nothing to submit: the frame has no rows"
            + (" left after skipping null prompts." if len(encoded.skipped_ids) else ".")
        )
    owns_client = client is None
    active = Client() if client is None else client
    try:
        manifest = _create_or_reattach(
            active,
            encoded,
            name=name,
            model=model,
            id_column=id_column,
            directory=manifest_dir,
            submit_kwargs=encoding,
            send={
                "chunk_rows": chunk_rows,
                "chunk_bytes": chunk_bytes,
                "concurrency": concurrency,
                "progress": progress,
                "limiter": CallLimiter(
                    calls_per_30s or ChunkPolicy.calls_per_30s,
                    period=30.0 + ChunkPolicy.window_margin,
                ),
            },
        )
    except BaseException:
        if owns_client:
            active.close()
        raise
    return Job(
        manifest.batch_id,
        client=active,
        df=df,
        ids=_ids_in_frame_order(len(df), encoded),
        id_column=id_column,
        skipped_ids=tuple(encoded.skipped_ids),
        response_model=response_model,
        name=manifest.name,
        submit_kwargs=encoding,
        owns_client=owns_client,
    )


def _check_knobs(
    chunk_rows: int | None,
    chunk_bytes: int | None,
    calls_per_30s: float | None,
    concurrency: int | None,
) -> None:
    whole = (("chunk_rows", chunk_rows), ("chunk_bytes", chunk_bytes), ("concurrency", concurrency))
    for label, value in whole:
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(f"{label} must be a positive integer, got {value!r}")
    if calls_per_30s is not None and (
        isinstance(calls_per_30s, bool)
        or not isinstance(calls_per_30s, int | float)
        or not calls_per_30s > 0
    ):
        raise ValueError(f"calls_per_30s must be a positive number, got {calls_per_30s!r}")


def _create_or_reattach(
    client: Client,
    encoded: Any,
    *,
    name: str | None,
    model: str,
    id_column: str | None,
    directory: str | os.PathLike[str] | None,
    submit_kwargs: dict[str, Any],
    send: dict[str, Any],
) -> Manifest:
    fingerprint = str(encoded.fingerprint())
    name = name if name is not None else f"batchframe-{fingerprint[:8]}"
    path = manifest_path(name, client.base_url, directory)
    manifest = load_manifest(name, client.base_url, directory)
    indices: np.ndarray | None = None
    if manifest is not None:
        check_fingerprint(manifest, fingerprint, path)
        indices = _missing_indices(client, manifest, encoded, path)
        logger.info(
            "reattached to batch %s (%s); %d of %d requests to add",
            manifest.batch_id,
            name,
            len(indices),
            len(encoded),
        )
    else:
        batch = client.create_batch(name)
        manifest = Manifest(
            batch_id=batch.batch_id,
            name=name,
            base_url=client.base_url,
            model=model,
            num_rows=len(encoded),
            id_column=id_column,
            fingerprint=fingerprint,
            submit_kwargs=jsonable_kwargs(submit_kwargs),
            skipped_ids=list(encoded.skipped_ids),
        )
        write_manifest(manifest, directory)  # before any add: a crash from here on resumes
    return _upload(client, encoded, manifest, indices, directory, send)


def _upload(
    client: Client,
    encoded: Encoded,
    manifest: Manifest,
    indices: np.ndarray | None,
    directory: str | os.PathLike[str] | None,
    send: dict[str, Any],
) -> Manifest:
    if indices is not None and len(indices) == 0:
        if not manifest.upload_complete:
            manifest = manifest.replace(upload_complete=True, rows_confirmed=len(encoded))
            write_manifest(manifest, directory)
        return manifest
    already = 0 if indices is None else len(encoded) - len(indices)
    ledger = _Ledger(manifest.replace(upload_complete=False, rows_confirmed=already), directory)
    try:
        upload_requests(
            client, manifest.batch_id, encoded, indices=indices, on_chunk=ledger.record, **send
        )
    finally:
        ledger.flush()  # an interrupted upload leaves its progress visible in the manifest
    return ledger.finish(len(encoded))


class _Ledger:
    """Records confirmed chunks in the manifest, at most about once a second (plus at the end)."""

    def __init__(self, manifest: Manifest, directory: str | os.PathLike[str] | None) -> None:
        self.manifest = manifest
        self.directory = directory
        self.already = manifest.rows_confirmed
        self.dirty = False
        self.last_write = time.monotonic()

    def record(self, rows_done: int, chunks_done: int, chunks_total: int) -> None:
        self.manifest = self.manifest.replace(
            rows_confirmed=self.already + rows_done,
            chunks_confirmed=chunks_done,
            chunks_total=chunks_total,
        )
        self.dirty = True
        if time.monotonic() - self.last_write >= 1.0:
            self.flush()

    def flush(self) -> None:
        if self.dirty:
            write_manifest(self.manifest, self.directory)
            self.dirty = False
            self.last_write = time.monotonic()

    def finish(self, rows: int) -> Manifest:
        self.manifest = self.manifest.replace(upload_complete=True, rows_confirmed=rows)
        self.dirty = True
        self.flush()
        return self.manifest


def _missing_indices(
    client: Client, manifest: Manifest, encoded: EncodedRequests, path: pathlib.Path
) -> np.ndarray:
    """Positions of the encoded items the server does not list yet (raises if the batch is gone)."""
    try:
        batch = client.get_batch(manifest.batch_id)
    except NotFoundError as exc:
        raise ManifestConflictError(
            f"The manifest {path} points at batch {manifest.batch_id}, which {manifest.base_url} "
            f"no longer has (404). Delete {path} or pass a new name= to start a fresh batch."
        ) from exc
    if batch.is_cancelled:
        raise ManifestConflictError(
            f"Batch {manifest.batch_id} (name {manifest.name!r}) was cancelled, so nothing more "
            f"can be added to it. Use bf.attach({manifest.batch_id!r}) to read what it has; to "
            f"submit again, pass a new name= or delete {path}."
        )
    if manifest.upload_complete and batch.num_requests == len(encoded):
        return np.empty(0, dtype=np.int64)
    listed = listed_request_ids(client, manifest.batch_id)
    present = pc.is_in(encoded.id_array, value_set=listed).to_numpy(zero_copy_only=False)
    return np.flatnonzero(~present).astype(np.int64)


def listed_request_ids(client: Client, batch_id: str) -> pa.StringArray:
    """Every request ID the server lists for ``batch_id`` (the raw metadata pages, prefetched).

    >>> listed_request_ids(client, job.batch_id).to_pylist()  # doctest: +SKIP
    ['0', '1', '2']
    """
    from batchframe.frame.results import fetch_request_states

    return fetch_request_states(client, batch_id)["batch_request_id"].combine_chunks()


def _ids_in_frame_order(n_rows: int, encoded: Any) -> list[str]:
    """Request IDs of every input row in row order (skipped rows included, in order)."""
    ids = np.empty(n_rows, dtype=object)
    sent = np.zeros(n_rows, dtype=bool)
    positions = np.asarray(encoded.row_positions, dtype=np.int64)
    ids[positions] = encoded.id_array.to_numpy(zero_copy_only=False)
    sent[positions] = True
    holes = np.flatnonzero(~sent)
    if len(holes) != len(encoded.skipped_ids):
        raise AssertionError("every row is either encoded or skipped")
    ids[holes] = np.asarray(list(encoded.skipped_ids), dtype=object)
    return [str(rid) for rid in ids.tolist()]
