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
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from batchframe._config import DEFAULT_MAX_BATCH_REQUESTS, MAX_REQUEST_BYTES, ChunkPolicy
from batchframe._hints import NEW_NAME, arg, say
from batchframe.client import Client
from batchframe.errors import ManifestConflictError
from batchframe.frame.cache import ResultCache, open_cache
from batchframe.frame.dedup import PlanFiles, Planner
from batchframe.frame.estimate import check_cap, refuse_over_cap, spend_estimate, text_bytes
from batchframe.frame.heap import release_freed_memory
from batchframe.frame.identity import (
    ServerBatches,
    canonical_server_url,
    claim_batch,
    default_job_name,
    shard_name,
)
from batchframe.frame.manifest import Manifest, ManifestStore, ShardRecord
from batchframe.frame.reading import Shard
from batchframe.frame.reuse import Reuse
from batchframe.frame.shard_upload import ShardUpload, UploadBar
from batchframe.frame.shards import EncodedShard, iter_shards
from batchframe.frame.sources import Source, as_source
from batchframe.frame.spec import RequestSpec
from batchframe.frame.upload import CallLimiter

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
        if self.chunk_bytes is not None and self.chunk_bytes > MAX_REQUEST_BYTES:
            raise ValueError(
                f"chunk_bytes={self.chunk_bytes:,} is over the API's {MAX_REQUEST_BYTES:,}-byte "
                "body limit: every add call would be refused (413)"
            )
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
    dedup: bool = True,
    cache: Any = None,
    max_cost_usd: float | None = None,
    prices: Any = None,
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

    ``dedup`` (default on): identical request bodies are sent once and every row gets the
    answer (``origin="duplicate"``). ``cache``: ``None`` the default result cache, ``False``
    off, a path that file; requests it holds an answer for are not sent (``origin="cache"``).
    ``max_cost_usd``: refuse with :class:`~batchframe.CostLimitError`, before any batch is
    created, when :func:`~batchframe.estimate`'s ``cost_usd`` is above it (``prices=`` as for
    ``estimate``, needed when the server's price list does not know the model).

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
        DEFAULT_MAX_BATCH_REQUESTS if max_batch_requests is None else max_batch_requests,
    )
    check_cap(max_cost_usd)
    return submit_spec(
        data,
        spec,
        send,
        name=name,
        client=client,
        manifest_dir=manifest_dir,
        dedup=dedup,
        cache=cache,
        max_cost_usd=max_cost_usd,
        prices=prices,
    )


def submit_spec(
    data: Any,
    spec: RequestSpec,
    send: SendOptions,
    *,
    name: str | None = None,
    client: Client | None = None,
    manifest_dir: str | os.PathLike[str] | None = None,
    dedup: bool = True,
    cache: Any = None,
    max_cost_usd: float | None = None,
    prices: Any = None,
) -> Job:
    """:func:`submit` with the spec and the sending options already built."""
    from batchframe.frame.job import Job

    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if name is not None and "#" in name:
        raise ValueError(
            f"name {name!r} contains '#': a job's shards are the batches name, name#2, "
            "name#3, ..., so '#' would make two jobs' batches look alike; pick another name"
        )
    source = as_source(data)
    spec.check_columns(source.column_names)
    if source.num_rows == 0:
        raise ValueError("Nothing to submit: the input has no rows.")
    check_cap(max_cost_usd)
    if not isinstance(dedup, bool):
        raise ValueError(f"dedup must be True or False, got {dedup!r}")
    if max_cost_usd is not None and not source.rereadable:
        raise ValueError(
            "max_cost_usd needs an input it can read twice (estimate, then send), not a "
            "RecordBatchReader; pass a Table, a frame or files"
        )
    source.check_ids(spec.id_column)
    shards = iter_shards(spec, source, send.max_batch_requests, with_keys=dedup)
    first = next(shards)
    if first.requests == 0:
        raise ValueError(
            "Nothing to submit: the input has no rows"
            + (" left after skipping null prompts." if len(first.encoded.skipped_ids) else ".")
        )
    result_cache = open_cache(cache)  # a cache that cannot be opened fails before any call
    owns_client = client is None
    active = Client() if client is None else client
    try:
        spec.check_model(active)  # one call per submit, before any batch is created
        estimate = None
        if max_cost_usd is not None:
            estimate = refuse_over_cap(
                source, spec, active, result_cache, dedup, prices, max_cost_usd, send
            )
        job_name = name if name is not None else default_job_name(first.fingerprint)
        run = _Run(active, ManifestStore(manifest_dir), job_name, spec, source, send)
        run.dedup, run.cache = dedup, result_cache
        pending = [first]
        del first  # the run owns the shard now: it is freed once sent (memory is one shard)
        records, kept = run.submit(pending, shards)
    except BaseException:
        if owns_client:
            active.close()
        raise
    job = Job(
        [
            Shard(r.index, r.batch_id or "", r.name, r.first_row, r.stop_row, r.requests)
            for r in records
        ],
        client=active,
        data=source,
        spec=spec,
        name=job_name,
        owns_client=owns_client,
        kept_ids=kept,
        manifest_dir=manifest_dir,
        max_batch_requests=send.max_batch_requests,
        reuse=run.reuse,
    )
    if estimate is None and run.sent:  # the wait bar's spend figure: a quick heuristic one
        estimate = spend_estimate(spec, active, run.sent, run.sent_bytes)
    job.estimate, job.reused = estimate, run.reused
    return job


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
        self.dedup = False
        self.cache: ResultCache | None = None
        self.planner: Planner | None = None
        self.reuse: Reuse | None = None
        self.reused = 0
        self.sent, self.sent_bytes = 0, 0  # requests sent, and their message text in bytes

    def submit(
        self, first: list[EncodedShard], rest: Iterator[EncodedShard]
    ) -> tuple[list[ShardRecord], dict[int, pa.ChunkedArray] | None]:
        """Send ``first.pop()`` and then every shard of ``rest``, one in memory at a time."""
        keep_ids = not self.source.rereadable and self.spec.id_column is not None
        kept: dict[int, pa.ChunkedArray] | None = {} if keep_ids else None
        with self.store.lock(self.name, self.server):
            manifest = self._manifest()
            self._plan_with(manifest)
            server = ServerBatches(self.client)
            with UploadBar(self.source.num_rows, self.send.progress) as bar:
                shard: EncodedShard | None = first.pop()
                last = 0
                while shard is not None:
                    release_freed_memory()  # what encoding the shard no longer uses
                    ids = shard.ids
                    shard = self._planned(manifest, shard)
                    self._shard(manifest, shard, server, bar)
                    if kept is not None:
                        kept[shard.index] = ids
                    last = shard.index
                    shard = None  # sent: drop it before the next one is encoded
                    release_freed_memory()
                    shard = next(rest, None)
            extra = [r for r in manifest.shards if r.index > last]
            if extra:
                raise ManifestConflictError(
                    say(
                        f"Job {self.name!r} was submitted with {len(manifest.shards)} shards, "
                        f"but this input makes only {last}: it is a different input. Pass a new ",
                        NEW_NAME,
                        ".",
                    )
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
                say(
                    f"Job {self.name!r} was submitted with ",
                    arg("max_batch_requests", manifest.max_batch_requests),
                    "; pass the same to resume it, or a new ",
                    NEW_NAME,
                    ".",
                )
            )
        manifest.spec = self.spec.to_json()
        manifest.base_url = self.client.base_url
        return manifest

    def _plan_with(self, manifest: Manifest) -> None:
        """Dedup and cache settings: this submit's for a new job; a resumed job keeps the ones
        its shards were planned with (their plans decide what is sent, whatever is passed now)."""
        if not manifest.shards:
            manifest.planned = self.dedup or self.cache is not None
            manifest.cache = None if self.cache is None else str(self.cache.path)
        if not manifest.planned:
            return
        cache = self.cache
        if manifest.cache != (None if cache is None else str(cache.path)):
            cache = None if manifest.cache is None else ResultCache(manifest.cache)
        files = PlanFiles(self.store.path(self.name, self.server))
        self.planner = Planner(files, dedup=self.dedup, cache=cache, server=self.server)
        self.reuse = Reuse(files, manifest.cache, self.server, self.send.max_batch_requests)

    def _planned(self, manifest: Manifest, shard: EncodedShard) -> EncodedShard:
        if self.planner is None:
            return shard
        record = manifest.shard(shard.index)
        return self.planner.apply(None if record is None else record.fingerprint, shard)

    def _shard(
        self, manifest: Manifest, shard: EncodedShard, server: ServerBatches, bar: UploadBar
    ) -> None:
        record = manifest.shard(shard.index)
        if record is None:
            if manifest.input_rows is not None:
                raise ManifestConflictError(
                    say(
                        f"Job {self.name!r} was submitted with {len(manifest.shards)} shards; "
                        "this input has more rows, so it is a different input. Pass a new ",
                        NEW_NAME,
                        ".",
                    )
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
                say(
                    f"A job named {self.name!r} (shard {shard.index}: {record.batch_id}, "
                    f"{record.requests} requests) was already submitted from a different input "
                    "or different settings. Pass a new ",
                    NEW_NAME,
                    f" to submit this one as a new job, or delete {path} to forget the old one.",
                )
            )
        bar.update(shard.reused)  # answered by dedup or the cache: never uploaded
        self.reused += shard.reused
        if shard.requests:
            self.sent += shard.requests
            self.sent_bytes += int(text_bytes(shard, self.spec).sum())
        if shard.requests == 0 and record.batch_id is None:
            record.upload_complete = True  # nothing to send: no batch at all
            self.store.write(manifest)
            return
        claim = claim_batch(self.client, self.store, manifest, record, shard.ids, server)
        self.store.write(manifest)  # the batch ID before any add: a crash from here resumes
        ShardUpload(
            self.client, self.store, self.send, manifest, record, shard, claim, bar
        ).upload()
