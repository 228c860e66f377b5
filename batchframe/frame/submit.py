"""``bf.submit``: encode the input shard by shard, find or create each shard's batch, upload.

Order matters. Everything that can be checked without rows, and the whole first shard, is
validated and encoded before any call. Under the job's lock (one submit of a job at a time on a
machine) each shard finds its batch (:mod:`batchframe.frame.identity`), adds only what the server
does not list yet, then checks that the server counts exactly the shard's requests. The manifest
records each step, so a kernel that dies anywhere leaves enough for the same ``submit`` to
resume without paying twice.

>>> job = bf.submit(df, prompt="review", model="grok-4.3", name="reviews-v1")  # doctest: +SKIP
>>> job.batch_ids                                                            # doctest: +SKIP
('batch_...',)
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from batchframe._config import DEFAULT_MAX_BATCH_REQUESTS, ChunkPolicy
from batchframe._progress import ProgressBar, progress_bar
from batchframe.client import Client
from batchframe.errors import ConflictError, ManifestConflictError, UploadError
from batchframe.frame.identity import (
    Claim,
    ServerBatches,
    canonical_server_url,
    claim_batch,
    default_job_name,
    shard_name,
)
from batchframe.frame.manifest import Manifest, ManifestStore, ShardRecord
from batchframe.frame.reading import Shard
from batchframe.frame.shards import EncodedShard, iter_shards
from batchframe.frame.sources import Source, as_source
from batchframe.frame.spec import RequestSpec
from batchframe.frame.upload import CallLimiter, upload_requests

if TYPE_CHECKING:
    from batchframe.frame.job import Job

__all__ = ["SendOptions", "submit", "submit_spec"]

logger = logging.getLogger("batchframe")


@dataclass(frozen=True)
class SendOptions:
    """How to send: chunking, pacing, concurrency, progress, shard size."""

    chunk_rows: int | None = None
    chunk_bytes: int | None = None
    calls_per_30s: float | None = None
    concurrency: int | None = None
    progress: bool = True
    max_batch_requests: int = DEFAULT_MAX_BATCH_REQUESTS
    limiter: CallLimiter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        whole = (
            ("chunk_rows", self.chunk_rows),
            ("chunk_bytes", self.chunk_bytes),
            ("concurrency", self.concurrency),
            ("max_batch_requests", self.max_batch_requests),
        )
        for label, value in whole:
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{label} must be a positive integer, got {value!r}")
        calls = self.calls_per_30s
        if calls is not None and (
            isinstance(calls, bool) or not isinstance(calls, int | float) or not calls > 0
        ):
            raise ValueError(f"calls_per_30s must be a positive number, got {calls!r}")
        budget = calls or ChunkPolicy.calls_per_30s
        limiter = CallLimiter(budget, period=30.0 + ChunkPolicy.window_margin)
        object.__setattr__(self, "limiter", limiter)


def submit(
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
    name: str | None = None,
    client: Client | None = None,
    progress: bool = True,
    chunk_rows: int | None = None,
    chunk_bytes: int | None = None,
    max_batch_requests: int | None = None,
    calls_per_30s: float | None = None,
    concurrency: int | None = None,
    manifest_dir: str | os.PathLike[str] | None = None,
    **params: Any,
) -> Job:
    """Submit one request per input row and return the :class:`~batchframe.Job`.

    ``data`` and the arguments that say what to send are those of
    :func:`~batchframe.to_requests`. Every input problem is a ``ValueError`` raised before
    anything is sent (for an input of more than ``max_batch_requests`` requests, the checks that
    need a shard's values run as that shard is encoded, before it is sent). More requests than
    ``max_batch_requests`` (default 1,000,000) become consecutive shards, one batch each, named
    ``name``, ``name#2``, ... Rerunning with the same ``name`` (default: derived from the first
    shard's requests) and the same input, from any directory or process, reattaches and adds
    only what is missing; the same name with a different input raises
    :class:`~batchframe.ManifestConflictError`. Returns once every request is added;
    ``job.wait()`` follows the batches.

    >>> job = bf.submit(df, template="Sentiment of: {review}", model="grok-4.3")  # doctest: +SKIP
    >>> job.wait(); out = job.results()                                          # doctest: +SKIP
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
    send = SendOptions(
        chunk_rows,
        chunk_bytes,
        calls_per_30s,
        concurrency,
        progress,
        max_batch_requests or DEFAULT_MAX_BATCH_REQUESTS,
    )
    return submit_spec(data, spec, send, name=name, client=client, manifest_dir=manifest_dir)


def submit_spec(
    data: Any,
    spec: RequestSpec,
    send: SendOptions,
    *,
    name: str | None = None,
    client: Client | None = None,
    manifest_dir: str | os.PathLike[str] | None = None,
) -> Job:
    """:func:`submit` with the spec and the sending options already built."""
    from batchframe.frame.job import Job

    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    source = as_source(data)
    spec.check_columns(source.column_names)
    if source.num_rows == 0:
        raise ValueError("Nothing to submit: the input has no rows.")
    source.check_ids(spec.id_column)
    shards = iter_shards(spec, source, send.max_batch_requests)
    first = next(shards)
    if first.requests == 0:
        raise ValueError(
            "Nothing to submit: the input has no rows"
            + (" left after skipping null prompts." if len(first.encoded.skipped_ids) else ".")
        )
    owns_client = client is None
    active = Client() if client is None else client
    try:
        job_name = name if name is not None else default_job_name(first.fingerprint)
        run = _Run(active, ManifestStore(manifest_dir), job_name, spec, source, send)
        pending = [first]
        del first  # the run owns the shard now: it is freed once sent (memory is one shard)
        records, kept = run.submit(pending, shards)
    except BaseException:
        if owns_client:
            active.close()
        raise
    return Job(
        [
            Shard(r.index, str(r.batch_id), r.name, r.first_row, r.stop_row, r.requests)
            for r in records
        ],
        client=active,
        data=source,
        spec=spec,
        name=job_name,
        owns_client=owns_client,
        kept_ids=kept,
        manifest_dir=manifest_dir,
    )


class _Run:
    """One submit of one job: the manifest, the server's batches, the shared progress bar."""

    def __init__(
        self,
        client: Client,
        store: ManifestStore,
        name: str,
        spec: RequestSpec,
        source: Source,
        send: SendOptions,
    ) -> None:
        self.client, self.store, self.name = client, store, name
        self.spec, self.source, self.send = spec, source, send
        self.server = canonical_server_url(client.base_url)

    def submit(
        self, first: list[EncodedShard], rest: Iterator[EncodedShard]
    ) -> tuple[list[ShardRecord], dict[int, pa.ChunkedArray] | None]:
        """Send ``first.pop()`` and then every shard of ``rest``, one in memory at a time."""
        keep_ids = not self.source.rereadable and self.spec.id_column is not None
        kept: dict[int, pa.ChunkedArray] | None = {} if keep_ids else None
        with self.store.lock(self.name, self.server):
            manifest = self._manifest()
            server = ServerBatches(self.client)
            with _UploadBar(self.source.num_rows, self.send.progress) as bar:
                shard: EncodedShard | None = first.pop()
                last = 0
                while shard is not None:
                    self._shard(manifest, shard, server, bar)
                    if kept is not None:
                        kept[shard.index] = shard.ids
                    last = shard.index
                    shard = None  # sent: drop it before the next one is encoded
                    shard = next(rest, None)
            extra = [r for r in manifest.shards if r.index > last]
            if extra:
                raise ManifestConflictError(
                    f"Job {self.name!r} was submitted with {len(manifest.shards)} shards, but "
                    f"this input makes only {last}: it is a different input. Pass a new name=."
                )
            manifest.input_rows = manifest.shards[-1].stop_row
            self.store.write(manifest)
        return manifest.shards, kept

    def _manifest(self) -> Manifest:
        manifest = self.store.load(self.name, self.server)
        if manifest is None:
            manifest = Manifest(
                name=self.name,
                server=self.server,
                base_url=self.client.base_url,
                source=self.source.describe(),
                max_batch_requests=self.send.max_batch_requests,
            )
        elif manifest.shards and manifest.max_batch_requests != self.send.max_batch_requests:
            raise ManifestConflictError(
                f"Job {self.name!r} was submitted with max_batch_requests="
                f"{manifest.max_batch_requests}; pass the same to resume it, or a new name=."
            )
        manifest.spec = self.spec.to_json()
        manifest.base_url = self.client.base_url
        return manifest

    def _shard(
        self, manifest: Manifest, shard: EncodedShard, server: ServerBatches, bar: _UploadBar
    ) -> None:
        record = manifest.shard(shard.index)
        if record is None:
            if manifest.input_rows is not None:
                raise ManifestConflictError(
                    f"Job {self.name!r} was submitted with {len(manifest.shards)} shards; this "
                    "input has more rows, so it is a different input. Pass a new name=."
                )
            record = ShardRecord(
                shard.index,
                shard_name(self.name, shard.index),
                shard.first_row,
                shard.stop_row,
                shard.requests,
                shard.fingerprint,
            )
            manifest.shards.append(record)
        elif (record.fingerprint, record.first_row, record.stop_row) != (
            shard.fingerprint,
            shard.first_row,
            shard.stop_row,
        ):
            path = self.store.path(manifest.name, manifest.server)
            raise ManifestConflictError(
                f"A job named {self.name!r} (shard {shard.index}: {record.batch_id}, "
                f"{record.requests} requests) was already submitted from a different input or "
                "different settings. Pass a new name= to submit this one as a new job, or "
                f"delete {path} to forget the old one."
            )
        claim = claim_batch(self.client, self.store, manifest, record, shard.ids, server)
        self.store.write(manifest)  # the batch ID before any add: a crash from here resumes
        _Upload(self, manifest, record, shard, claim, bar).upload()


class _Upload:
    """One shard's upload: what is missing, a check of what is there, the count at the end."""

    def __init__(
        self,
        run: _Run,
        manifest: Manifest,
        record: ShardRecord,
        shard: EncodedShard,
        claim: Claim,
        bar: _UploadBar,
    ) -> None:
        self.run, self.manifest, self.record = run, manifest, record
        self.shard, self.claim, self.bar = shard, claim, bar
        self.last_write = time.monotonic()

    def run_chunks(self, indices: np.ndarray | None) -> None:
        send = self.run.send
        sizes = self.shard.encoded.item_sizes()
        if indices is not None:
            sizes = sizes[indices]
        policy = ChunkPolicy()
        if (
            self.shard.index > 1
            or len(sizes) > (send.chunk_rows or policy.max_rows)
            or int(sizes.sum()) + len(sizes) > (send.chunk_bytes or policy.max_bytes)
        ):
            self.bar.show()  # more than one add call: worth a bar
        upload_requests(
            self.run.client,
            self.claim.batch.batch_id,
            self.shard.encoded,
            indices=indices,
            chunk_rows=send.chunk_rows,
            chunk_bytes=send.chunk_bytes,
            limiter=send.limiter,
            concurrency=send.concurrency,
            progress=send.progress,
            on_chunk=self._record,
            bar=self.bar,
        )

    def upload(self) -> None:
        record, encoded = self.record, self.shard.encoded
        if self.claim.listed is None and record.upload_complete:
            self.bar.update(record.requests)
            return
        missing: np.ndarray | None = None
        if self.claim.listed is not None:
            present = pc.is_in(encoded.id_array, value_set=self.claim.listed)
            mask = np.asarray(present.to_numpy(zero_copy_only=False), dtype=bool)
            if self.claim.verify and mask.any():
                self._verify(np.flatnonzero(mask))
            missing = np.flatnonzero(~mask).astype(np.int64)
            self.bar.update(int(mask.sum()))
        self.base = 0 if missing is None else len(encoded) - len(missing)
        record.rows_confirmed = self.base
        record.upload_complete = False
        try:
            self.run_chunks(missing)
        finally:
            self.run.store.write(self.manifest)  # progress stays visible after a failure
        self._check_count()
        record.upload_complete, record.rows_confirmed = True, record.requests
        self.run.store.write(self.manifest)

    def _verify(self, present: np.ndarray) -> None:
        """Re-send what the server lists: a 412 means it holds other content under our IDs."""
        try:
            upload_requests(
                self.run.client,
                self.claim.batch.batch_id,
                self.shard.encoded,
                indices=present,
                limiter=self.run.send.limiter,
                progress=False,
            )
        except UploadError as exc:
            if isinstance(exc.__cause__, ConflictError):
                raise ManifestConflictError(
                    f"Batch {self.claim.batch.batch_id} (name {self.record.name!r}) holds "
                    "requests with these IDs but other content: it is another input's. Pass a "
                    "new name=."
                ) from exc
            raise

    def _record(self, rows_done: int, chunks_done: int, chunks_total: int) -> None:
        self.record.rows_confirmed = self.base + rows_done
        if time.monotonic() - self.last_write >= 1.0:
            self.run.store.write(self.manifest)
            self.last_write = time.monotonic()

    def _check_count(self) -> None:
        """The server must now count exactly this shard's requests."""
        batch = self.run.client.get_batch(self.claim.batch.batch_id)
        expected = self.record.requests
        if batch.num_requests < expected:
            raise UploadError(
                f"After the upload, batch {batch.batch_id} counts {batch.num_requests} of the "
                f"{expected} requests sent: the server did not keep some add calls. Rerun the "
                "same submit to add what is missing.",
                batch_id=batch.batch_id,
                rows_done=batch.num_requests,
            )
        if batch.num_requests > expected:
            raise ManifestConflictError(
                f"Batch {batch.batch_id} (name {self.record.name!r}) counts "
                f"{batch.num_requests} requests but this shard has {expected}: something else "
                "added to it. Its results would mix two inputs; pass a new name=."
            )


class _UploadBar(ProgressBar):
    """One upload bar over every shard, drawn only once there is more than one add call."""

    def __init__(self, total: int | None, enabled: bool) -> None:
        super().__init__(None)
        self._wanted, self._total, self._done = enabled, total, 0

    def show(self) -> None:
        if self._wanted and self._bar is None:
            bar = progress_bar(total=self._total, desc="upload", initial=self._done)
            self._bar, self._wanted = bar._bar, False

    def update(self, n: int = 1) -> None:
        self._done += n
        super().update(n)

    def __enter__(self) -> _UploadBar:
        return self
