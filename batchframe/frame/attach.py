"""``bf.attach``: a job found again by batch ID or by name, from any directory or process.

With the job's manifest (``submit`` writes one in the user's data directory) the job gets its
shards, its request spec and its server back, and a frame passed in is checked against the
fingerprints of what was sent: a reordered or edited frame is a :class:`~batchframe.JoinError`,
never a silent mis-join. Without a manifest the shards are found on the server by name
(``name``, ``name#2``, ...) and the frame's request IDs are checked against the IDs the server
lists when the results are read.

>>> job = bf.attach("reviews-v1", df)                        # doctest: +SKIP
>>> job = bf.attach("batch_0f3c...", df, id_column="review_id")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Hashable
from typing import Any

from batchframe._config import DEFAULT_BASE_URL, read_env
from batchframe._hints import Term, say
from batchframe.client import Client
from batchframe.errors import JoinError
from batchframe.frame.dedup import PlanFiles
from batchframe.frame.identity import ServerBatches, canonical_server_url, shard_name
from batchframe.frame.job import Job
from batchframe.frame.manifest import Manifest, ManifestStore
from batchframe.frame.reading import Shard
from batchframe.frame.reuse import Reuse
from batchframe.frame.shards import iter_shards
from batchframe.frame.sources import Source, as_source
from batchframe.frame.spec import RequestSpec

__all__ = ["attach"]

logger = logging.getLogger("batchframe")


def attach(
    batch_id_or_name: str,
    data: Any = None,
    *,
    id_column: Hashable | None = None,
    client: Client | None = None,
    response_model: Any = None,
    manifest_dir: str | os.PathLike[str] | None = None,
) -> Job:
    """The job of a batch ID (``batch_...``) or of a job name, with or without its input.

    ``data`` is the input that was submitted (any kind ``submit`` takes); results are then
    joined onto it. ``id_column`` says how its rows' IDs were made when there is no manifest
    (with one, the manifest says). ``response_model`` parses structured answers. Without
    ``client`` one is made for the manifest's server (else ``XAI_BASE_URL``) and closed with
    the job.

    >>> job = bf.attach("batch_0f3c...", df)                     # doctest: +SKIP
    >>> job.results()                                            # doctest: +SKIP
    """
    if not isinstance(batch_id_or_name, str) or not batch_id_or_name:
        raise ValueError(f"pass a batch ID or a job name, got {batch_id_or_name!r}")
    store = ManifestStore(manifest_dir)
    manifest = _find_manifest(store, batch_id_or_name, client)
    owns = client is None
    active = client or Client(base_url=manifest.base_url if manifest is not None else None)
    try:
        source = None if data is None else as_source(data)
        if source is not None and not source.rereadable:
            raise ValueError(
                "attach needs an input it can read (a frame, a Table or files), not a "
                "RecordBatchReader, which can be read only once"
            )
        if manifest is not None:
            return _from_manifest(manifest, active, source, owns, response_model, manifest_dir)
        shards, name = _from_server(active, batch_id_or_name)
        return Job(
            shards,
            client=active,
            data=source,
            id_column=id_column,
            response_model=response_model,
            name=name,
            owns_client=owns,
            check_ids=source is not None,
            manifest_dir=manifest_dir,
        )
    except BaseException:
        if owns:
            active.close()
        raise


def _is_batch_id(text: str) -> bool:
    return text.startswith("batch_")


def _find_manifest(store: ManifestStore, key: str, client: Client | None) -> Manifest | None:
    """The manifest of a batch ID (unique on its own: the same local database may be served at
    another address) or of a job name on the client's server."""
    if _is_batch_id(key):
        return store.find_batch(key)
    base_url = client.base_url if client is not None else (read_env().base_url or DEFAULT_BASE_URL)
    return store.load(key, canonical_server_url(base_url))


def _from_manifest(
    manifest: Manifest,
    client: Client,
    source: Source | None,
    owns: bool,
    response_model: Any,
    manifest_dir: str | os.PathLike[str] | None,
) -> Job:
    spec = None
    if manifest.spec is not None:
        spec = RequestSpec.from_json(manifest.spec, response_model=response_model)
    if source is not None and spec is not None:
        check_fingerprints(manifest, spec, source)
    shards = [
        Shard(r.index, r.batch_id or "", r.name, r.first_row, r.stop_row, r.requests)
        for r in manifest.shards
        if r.batch_id is not None or (r.upload_complete and r.requests == 0)  # dedup/cache only
    ]
    if not shards:
        raise ValueError(f"job {manifest.name!r} has no batch yet: its submit stopped first")
    return Job(
        shards,
        client=client,
        data=source,
        spec=spec,
        response_model=response_model,
        name=manifest.name,
        owns_client=owns,
        check_ids=source is not None and spec is None,
        manifest_dir=manifest_dir,
        max_batch_requests=manifest.max_batch_requests,
        reuse=_reuse(manifest, manifest_dir),
    )


def _reuse(manifest: Manifest, manifest_dir: str | os.PathLike[str] | None) -> Reuse | None:
    """The job's dedup plans and cache, when its shards were planned (frame/dedup.py)."""
    if not manifest.planned:
        return None
    path = ManifestStore(manifest_dir).path(manifest.name, manifest.server)
    return Reuse(PlanFiles(path), manifest.cache, manifest.server, manifest.max_batch_requests)


def check_fingerprints(manifest: Manifest, spec: RequestSpec, source: Source) -> None:
    """Re-encode ``source`` shard by shard: it must send exactly what the manifest recorded."""
    records = {
        r.index: r
        for r in manifest.shards
        if r.batch_id is not None or (r.upload_complete and r.requests == 0)  # dedup/cache only
    }
    seen = 0
    for shard in iter_shards(spec, source, manifest.max_batch_requests):
        record = records.get(shard.index)
        if record is None:
            if manifest.input_rows is not None:
                raise _mismatch(manifest, "has more rows than the job")
            break  # rows no batch was created for: they come back not_sent
        seen = shard.index
        same = (record.fingerprint, record.first_row, record.stop_row) == (
            shard.fingerprint,
            shard.first_row,
            shard.stop_row,
        )
        if not same:
            raise _mismatch(manifest, f"differs from what shard {shard.index} sent")
    if seen < max(records, default=0):
        raise _mismatch(manifest, "has fewer rows than the job")


def _mismatch(manifest: Manifest, how: str) -> JoinError:
    return JoinError(
        say(
            Term("The input passed to attach", "The --input file"),
            f" {how} {manifest.name!r}: its rows, their order, or their values are not the ones "
            "submitted, so results would land on the wrong rows. ",
            Term("Pass the input", "Give the --input file"),
            " exactly as it was submitted.",
        )
    )


def _from_server(client: Client, key: str) -> tuple[list[Shard], str | None]:
    """The shards of a job the server knows by batch ID or name (no manifest here)."""
    if _is_batch_id(key):
        return [Shard(1, key)], None
    server = ServerBatches(client)
    shards: list[Shard] = []
    while True:
        index = len(shards) + 1
        named = server.named(shard_name(key, index))
        if not named:
            break
        holding = [b for b in named if b.num_requests > 0] or named
        if len(holding) > 1:
            raise ValueError(
                say(
                    f"the server has {len(holding)} batches named {shard_name(key, index)!r}; ",
                    Term("attach one of them by batch ID", "give one of their batch IDs instead"),
                )
            )
        shards.append(Shard(index, holding[0].batch_id, holding[0].name))
    if not shards:
        raise ValueError(f"no job named {key!r} on {client.base_url}: no batch has that name")
    return shards, key
