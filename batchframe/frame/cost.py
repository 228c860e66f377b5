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
    from batchframe.models import Batch

__all__ = ["CostSummary", "job_cost", "summarize_cost"]

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

    def __repr__(self) -> str:
        return (
            f"CostSummary(rows={self.rows:,}, succeeded={self.succeeded:,}, failed={self.failed:,}, "
            f"cancelled={self.cancelled:,}, pending={self.pending:,}, "
            f"tokens={self.total_tokens:,} (prompt {self.prompt_tokens:,}, completion "
            f"{self.completion_tokens:,}, reasoning {self.reasoning_tokens:,}, cached "
            f"{self.cached_tokens:,}), cost_usd=${self.cost_usd:,.6f})"
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

    def total(column: str) -> Any:
        if column not in frame:
            return 0
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=0.0)
        return values[finished].sum()

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
