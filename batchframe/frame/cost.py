"""Token and cost totals over a results table.

>>> import pandas as pd
>>> summarize_cost(pd.DataFrame({"state": ["succeeded", "failed"], "total_tokens": [10, None],
...                              "cost_usd": [0.5, None]})).cost_usd
0.5
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from batchframe.frame.decode import TOKEN_COLUMNS

if TYPE_CHECKING:
    from batchframe.client import Client
    from batchframe.frame.job import Job
    from batchframe.models import Batch

__all__ = ["CostSummary", "job_cost", "reused_cost", "summarize_cost"]

_FINISHED = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class CostSummary:
    """Counts, token totals and cost in USD over the finished rows of a results table."""

    rows: int
    succeeded: int
    failed: int
    cancelled: int
    pending: int
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cached_tokens: int
    total_tokens: int
    cost_usd: float
    #: Rows answered by an identical request of the job, or by the result cache (not paid).
    duplicates: int = 0
    cached: int = 0
    #: What those rows' answers cost when they were paid for: what this job did not pay again.
    saved_usd: float = 0.0

    @property
    def paid_usd(self) -> float:
        """What this job paid (``cost_usd``: duplicate and cached rows cost 0)."""
        return self.cost_usd

    def __repr__(self) -> str:
        return (
            f"CostSummary(rows={self.rows:,}, succeeded={self.succeeded:,}, failed={self.failed:,}, "
            f"cancelled={self.cancelled:,}, pending={self.pending:,}, "
            f"tokens={self.total_tokens:,} (prompt {self.prompt_tokens:,}, completion "
            f"{self.completion_tokens:,}, reasoning {self.reasoning_tokens:,}, cached "
            f"{self.cached_tokens:,}), cost_usd=${self.cost_usd:,.6f}"
            + (
                f", duplicates={self.duplicates:,}, cached={self.cached:,}, "
                f"saved_usd=${self.saved_usd:,.6f}"
                if self.duplicates or self.cached
                else ""
            )
            + ")"
        )

    def to_series(self) -> pd.Series:
        """The totals as a pandas Series."""
        return pd.Series(asdict(self))

    def __add__(self, other: CostSummary) -> CostSummary:
        return CostSummary(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


def summarize_cost(data: pd.DataFrame | pa.Table | pa.RecordBatch) -> CostSummary:
    """Totals of rows by state, usage tokens and ``cost_usd`` over finished rows."""
    frame = data if isinstance(data, pd.DataFrame) else data.to_pandas()
    n = len(frame)
    state = frame["state"].astype(object) if "state" in frame else pd.Series([None] * n)
    counts = state.value_counts()
    finished = state.isin(_FINISHED).to_numpy()
    paid = finished
    if "origin" in frame:  # duplicate and cached rows carry their answer's usage, not a bill
        paid = finished & frame["origin"].astype(object).isin(["batch", None]).to_numpy()

    def total(column: str) -> Any:
        if column not in frame:
            return 0
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=0.0)
        return values[paid].sum()

    return CostSummary(
        rows=n,
        succeeded=int(counts.get("succeeded", 0)),
        failed=int(counts.get("failed", 0)),
        cancelled=int(counts.get("cancelled", 0)),
        pending=int(n - finished.sum()),
        **{column: int(total(column)) for column in TOKEN_COLUMNS},
        cost_usd=float(total("cost_usd")),
    )


def job_cost(client: Client, batch_ids: Sequence[str], batches: Mapping[str, Batch]) -> CostSummary:
    """Totals over every shard: tokens and cost from the result pages, pending from counters."""
    import dataclasses

    from batchframe.frame.join import read_results

    total: CostSummary | None = None
    for batch_id in batch_ids:
        batch = batches[batch_id]
        summary = summarize_cost(read_results(client, batch))
        pending = batch.num_pending
        summary = dataclasses.replace(summary, rows=summary.rows + pending, pending=pending)
        total = summary if total is None else total + summary
    assert total is not None
    return total


def reused_cost(job: Job, batches: dict[str, Batch]) -> CostSummary:
    """Totals over every row of a job that reused answers: paid (batch rows), and saved (what
    its duplicate and cached rows' answers cost when first paid for). Reads each shard's results
    the way ``results()`` does, a shard at a time, without the input's other columns."""
    import dataclasses

    from batchframe.frame.reading import iter_segments, segment_results
    from batchframe.frame.reuse import Filled, fill_segment

    total: CostSummary | None = None
    for segment in iter_segments(job.input, list(job.shards), inputs=False):
        joined = fill_segment(
            job,
            segment,
            segment_results(job.client, segment, batches, check_ids=job.checks_ids),
            batches,
        )
        summary = summarize_cost(joined.whole())
        if isinstance(joined, Filled):
            summary = dataclasses.replace(
                summary,
                duplicates=joined.duplicates,
                cached=joined.cached,
                saved_usd=joined.saved_usd,
            )
        total = summary if total is None else total + summary
    assert total is not None
    return total
