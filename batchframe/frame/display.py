"""How a job shows itself: its shards' counters summed, as text and as a notebook summary.

>>> b = Batch(batch_id="batch_1", name="n", state={"num_requests": 3, "num_success": 3})
>>> counts_text(summed_batch([b, b], "n"))
'requests=6, ok=6, failed=0, cancelled=0, pending=0'
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from batchframe.models import Batch, BatchState

__all__ = ["counts_text", "job_html", "summed_batch"]


def summed_batch(batches: Sequence[Batch], name: str | None) -> Batch:
    """One batch standing for a job's shards: the first's ID and times, counters summed.

    A single shard is returned as is. ``cancel_time`` is set only when every shard was
    cancelled (the latest time).
    """
    if len(batches) == 1:
        return batches[0]
    first = batches[0]
    state = BatchState(
        num_requests=sum(b.num_requests for b in batches),
        num_pending=sum(b.num_pending for b in batches),
        num_success=sum(b.num_success for b in batches),
        num_error=sum(b.num_error for b in batches),
        num_cancelled=sum(b.num_cancelled for b in batches),
    )
    cancelled = [b.cancel_time for b in batches if b.cancel_time is not None]
    return Batch(
        batch_id=first.batch_id,
        name=name or first.name,
        create_time=first.create_time,
        expire_time=min((b.expire_time for b in batches if b.expire_time), default=None),
        cancel_time=max(cancelled) if len(cancelled) == len(batches) else None,
        state=state,
    )


def counts_text(batch: Batch | None) -> str:
    if batch is None:
        return "not fetched yet"
    return (
        f"requests={batch.num_requests}, ok={batch.num_success}, failed={batch.num_error}, "
        f"cancelled={batch.num_cancelled}, pending={batch.num_pending}"
    )


def job_html(name: str | None, batch_ids: Sequence[str], batch: Batch | None) -> str:
    """The notebook summary of a job: name, batch IDs, counts and an HTML progress bar."""
    title = html.escape(name or "(unnamed)")
    shown = " ".join(f"<code>{html.escape(b)}</code>" for b in batch_ids[:3])
    if len(batch_ids) > 3:
        shown += f" and {len(batch_ids) - 3} more"
    shards = f" ({len(batch_ids)} shards)" if len(batch_ids) > 1 else ""
    head = f"<b>batchframe Job</b> {title}{shards} {shown}"
    if batch is None:
        return f"<div>{head}<br><i>state not fetched yet</i></div>"
    total = max(batch.num_requests, 1)
    counts = html.escape(counts_text(batch))
    bar = f'<progress value="{batch.num_finished}" max="{total}"></progress>'
    return f"<div>{head}<br>{bar} {batch.num_finished}/{batch.num_requests}<br>{counts}</div>"
