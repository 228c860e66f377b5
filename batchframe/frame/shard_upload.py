"""One shard's upload: what the server lacks, a check of what it has, its count at the end.

An adopted batch (found on the server without this machine's record of it) first gets the
requests it lists sent again: the server accepts an identical request under the same ID once and
refuses other content (412), which proves the batch holds this shard's requests before anything
new is added. After the upload the server must count exactly the shard's requests: fewer means
add calls it did not keep (a 3xx, say), more means something else added to the batch.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import pyarrow.compute as pc

from batchframe._config import ChunkPolicy
from batchframe._hints import NEW_NAME, RERUN, say
from batchframe._progress import ProgressBar, progress_bar
from batchframe.errors import ConflictError, ManifestConflictError, UploadError
from batchframe.frame.upload import upload_requests

if TYPE_CHECKING:
    from batchframe.client import Client
    from batchframe.frame.identity import Claim
    from batchframe.frame.manifest import Manifest, ManifestStore, ShardRecord
    from batchframe.frame.shards import EncodedShard
    from batchframe.frame.submit import SendOptions

__all__ = ["ShardUpload", "UploadBar"]


class ShardUpload:
    """One shard's upload: what is missing, a check of what is there, the count at the end."""

    def __init__(
        self,
        client: Client,
        store: ManifestStore,
        send: SendOptions,
        manifest: Manifest,
        record: ShardRecord,
        shard: EncodedShard,
        claim: Claim,
        bar: UploadBar,
    ) -> None:
        self.client, self.store, self.send = client, store, send
        self.manifest, self.record = manifest, record
        self.shard, self.claim, self.bar = shard, claim, bar
        self.last_write = time.monotonic()
        self.base = 0

    def run_chunks(self, indices: np.ndarray | None) -> None:
        send = self.send
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
            self.client,
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
            self.store.write(self.manifest)  # progress stays visible after a failure
        self._check_count()
        record.upload_complete, record.rows_confirmed = True, record.requests
        self.store.write(self.manifest)

    def _verify(self, present: np.ndarray) -> None:
        """Re-send what the server lists: a 412 means it holds other content under our IDs."""
        try:
            upload_requests(
                self.client,
                self.claim.batch.batch_id,
                self.shard.encoded,
                indices=present,
                limiter=self.send.limiter,
                progress=False,
            )
        except UploadError as exc:
            if isinstance(exc.__cause__, ConflictError):
                raise ManifestConflictError(
                    say(
                        f"Batch {self.claim.batch.batch_id} (name {self.record.name!r}) holds "
                        "requests with these IDs but other content: it is another input's. "
                        "Pass a new ",
                        NEW_NAME,
                        ".",
                    )
                ) from exc
            raise

    def _record(self, rows_done: int, chunks_done: int, chunks_total: int) -> None:
        self.record.rows_confirmed = self.base + rows_done
        if time.monotonic() - self.last_write >= 1.0:
            self.store.write(self.manifest)
            self.last_write = time.monotonic()

    def _check_count(self) -> None:
        """The server must now count exactly this shard's requests."""
        batch = self.client.get_batch(self.claim.batch.batch_id)
        expected = self.record.requests
        if batch.num_requests < expected:
            raise UploadError(
                say(
                    f"After the upload, batch {batch.batch_id} counts {batch.num_requests} of "
                    f"the {expected} requests sent: the server did not keep some add calls. ",
                    RERUN,
                    " to add what is missing.",
                ),
                batch_id=batch.batch_id,
                rows_done=batch.num_requests,
            )
        if batch.num_requests > expected:
            raise ManifestConflictError(
                say(
                    f"Batch {batch.batch_id} (name {self.record.name!r}) counts "
                    f"{batch.num_requests} requests but this shard has {expected}: something "
                    "else added to it. Its results would mix two inputs; pass a new ",
                    NEW_NAME,
                    ".",
                )
            )


class UploadBar(ProgressBar):
    """One upload bar over every shard, drawn only once there is more than one add call."""

    def __init__(self, total: int | None, enabled: bool) -> None:
        super().__init__(None)
        self._wanted, self._total, self._done = enabled, total, 0

    def show(self) -> None:
        if self._wanted and self._bar is None:
            bar = progress_bar(total=self._total, desc="upload", initial=self._done)
            self._bar, self._log, self._wanted = bar._bar, bar._log, False

    def update(self, n: int = 1) -> None:
        self._done += n
        super().update(n)

    def __enter__(self) -> UploadBar:
        return self
