"""Exact joins: a batch's results onto the input rows they answer, or an error saying why not.

:func:`join_rows` takes the results of one or more batches and the request IDs of a run of input
rows (in row order) and returns the result columns for exactly those rows, in that order. It is
exact or it fails: a result whose ID is none of the rows' IDs is a :class:`~batchframe.JoinError`;
a finished batch that lists fewer results than its counters say is read again, then an
:class:`~batchframe.IncompleteResultsError`. Rows without a result are ``skipped`` (left out at
submit), ``pending`` (in the batch) or ``not_sent`` (an upload that stopped never added them).

Hash joins run in Arrow (``index_in``); the reordering ``take`` goes column by column, so the
decoded pages and the reordered copy are never both whole in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from batchframe._hints import Term, say
from batchframe.errors import IncompleteResultsError, JoinError
from batchframe.frame.columns import name_values
from batchframe.frame.decode import RESULT_SCHEMA
from batchframe.models import Batch

if TYPE_CHECKING:
    from batchframe.client import Client

__all__ = [
    "NOT_SENT",
    "PENDING",
    "SKIPPED",
    "Rows",
    "first_of_each",
    "join_rows",
    "read_results",
    "results_by_id",
]

logger = logging.getLogger("batchframe")

PENDING, SKIPPED, NOT_SENT = "pending", "skipped", "not_sent"


@dataclass(frozen=True)
class Rows:
    """A run of input rows: their request IDs in row order, and which were skipped at submit."""

    ids: pa.ChunkedArray
    skipped: npt.NDArray[np.bool_] | None = None
    #: Called with a sample of unknown result IDs to say which column they look like.
    hint: Callable[[list[str]], str] | None = None


def read_pages(client: Client, batch_ids: Sequence[str]) -> pa.Table:
    """Every result of these batches, as listed (duplicates included)."""
    from batchframe.frame.results import iter_result_pages

    pages = [p for b in batch_ids for p in iter_result_pages(client, b) if p.num_rows]
    return pa.Table.from_batches(pages, RESULT_SCHEMA) if pages else RESULT_SCHEMA.empty_table()


def incomplete(batches: Sequence[Batch], found: int) -> IncompleteResultsError:
    ids = ", ".join(b.batch_id for b in batches)
    finished = sum(b.num_finished for b in batches)
    return IncompleteResultsError(
        f"Batch {ids} counts {finished} finished requests but its results list only {found}, "
        "read twice. Results are missing on the server's side; nothing was joined. Try again "
        "later, or ask the provider about this batch."
    )


def read_results(client: Client, batch: Batch) -> pa.Table:
    """Every result of ``batch`` (the first of a repeated ID), read again once if it lists fewer
    than its counters say, then an :class:`~batchframe.IncompleteResultsError`.

    ``batch`` must have been fetched before this call: any request it counts as finished is in
    the pages read after it, so fewer unique results than ``num_finished`` means lost results.
    """
    for attempt in (1, 2):
        table = first_of_each(read_pages(client, [batch.batch_id]))
        if table.num_rows >= batch.num_finished:
            return table
        _short(batch.num_finished, table.num_rows, attempt)
    raise incomplete([batch], table.num_rows)


def _short(finished: int, found: int, attempt: int) -> None:
    logger.warning(
        "the batch counts %d finished requests but lists %d results (read %d)",
        finished,
        found,
        attempt,
    )


def first_of_each(table: pa.Table) -> pa.Table:
    """``table`` keeping the first result of an ID the server listed twice (with a warning)."""
    if table.num_rows == 0 or len(pc.unique(table["batch_request_id"])) == table.num_rows:
        return table
    import pandas as pd

    ids = pd.Index(table["batch_request_id"].to_numpy(zero_copy_only=False))
    dup = ids.duplicated(keep="first")
    logger.warning(
        "%d duplicate results (kept the first of each), e.g. %s", int(dup.sum()), list(ids[dup][:5])
    )
    return table.filter(pa.array(~dup))


def _positions(rows: Rows, result_ids: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """For each result, its row; a result answering no row is a JoinError."""
    found = pc.index_in(result_ids, value_set=rows.ids)
    if found.null_count:
        unknown = result_ids.filter(pc.is_null(found)).to_pylist()
        raise join_error(unknown, len(result_ids), rows.hint)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)


def join_error(
    unknown: Sequence[str], total: int, hint: Callable[[list[str]], str] | None
) -> JoinError:
    """The JoinError for server request IDs that are no input row's ID."""
    extra = hint(list(unknown[:1000])) if hint is not None else ""
    return JoinError(
        say(
            f"{len(unknown)} of the batch's {total} request IDs are not the IDs of any input "
            f"row (e.g. {name_values(list(unknown))}), so its results cannot be matched to "
            "rows. ",
            extra
            or Term(
                "Pass the frame that was submitted, with the same id_column.",
                "Give the --input file that was submitted, with the same --id-column.",
            ),
        )
    )


class Joined:
    """Results matched to a run of rows: hand out the result columns of any range of rows.

    :meth:`part` takes just those rows (the decoded results stay, so a writer holds them and one
    row group's copy, never two whole tables); :meth:`whole` takes every row and frees each
    decoded column as its reordered copy is made.
    """

    def __init__(
        self,
        results: pa.Table,
        order: npt.NDArray[np.int64],
        rows: Rows,
        in_batch: pa.ChunkedArray | None,
    ) -> None:
        self.results, self.order, self.rows, self.in_batch = results, order, rows, in_batch
        self.num_rows = len(order)

    def _columns(self, start: int, stop: int, consume: bool) -> pa.Table:
        order = self.order[start:stop]
        missing = order < 0
        index = pa.array(order, mask=missing)
        ids = self.rows.ids.slice(start, stop - start)
        columns: dict[str, pa.Array | pa.ChunkedArray] = {"batch_request_id": ids}
        for name in RESULT_SCHEMA.names:
            if name != "batch_request_id":
                columns[name] = self.results[name].take(index)
            if consume:  # the decoded column goes as its copy comes
                self.results = self.results.drop_columns([name])
        if missing.any():
            columns["state"] = pc.coalesce(columns["state"], self._fallback(start, stop))
        return pa.table([columns[f.name] for f in RESULT_SCHEMA], schema=RESULT_SCHEMA)

    def part(self, start: int, stop: int) -> pa.Table:
        """The result columns of rows ``start:stop``, in row order."""
        self._contiguous()
        return self._columns(start, min(stop, self.num_rows), consume=False)

    def _contiguous(self) -> None:
        """One chunk per column, made once, a column at a time: a take from a column of many
        chunks (one per page) would concatenate them all again for every row group."""
        for k, name in enumerate(self.results.column_names):
            column = self.results.column(k)
            if column.num_chunks > 1:
                merged = pa.chunked_array([column.combine_chunks()])
                del column  # the table below is the only other holder of the chunks
                self.results = self.results.set_column(k, name, merged)

    def whole(self) -> pa.Table:
        """The result columns of every row (this Joined is spent afterwards)."""
        return self._columns(0, self.num_rows, consume=True)

    def rows_at(self, positions: npt.NDArray[np.int64]) -> pa.Table:
        """The result columns of the rows at ``positions`` (dedup and the cache read these)."""
        self._contiguous()
        order = self.order[positions]
        missing = order < 0
        index = pa.array(order, mask=missing)
        columns: dict[str, pa.Array | pa.ChunkedArray] = {
            "batch_request_id": self.rows.ids.take(pa.array(positions, pa.int64()))
        }
        for name in RESULT_SCHEMA.names[1:]:
            columns[name] = self.results[name].take(index)
        if missing.any():
            state = np.full(len(order), None, dtype=object)
            state[missing] = PENDING
            if self.in_batch is not None:
                listed = pc.is_in(columns["batch_request_id"], value_set=self.in_batch)
                state[missing & ~np.asarray(listed.to_numpy(zero_copy_only=False), bool)] = NOT_SENT
            columns["state"] = pc.coalesce(columns["state"], pa.array(state, pa.large_string()))
        return pa.table([columns[f.name] for f in RESULT_SCHEMA], schema=RESULT_SCHEMA)

    def _fallback(self, start: int, stop: int) -> pa.Array:
        """The state of rows without a result: skipped, pending or not_sent."""
        missing = self.order[start:stop] < 0
        state = np.full(len(missing), PENDING, dtype=object)
        if self.in_batch is not None:
            ids = self.rows.ids.slice(start, stop - start)
            listed = pc.is_in(ids, value_set=self.in_batch).to_numpy(zero_copy_only=False)
            state[~np.asarray(listed, dtype=bool)] = NOT_SENT
        if self.rows.skipped is not None:
            state[self.rows.skipped[start:stop]] = SKIPPED
        state[~missing] = None
        return pa.array(state, pa.large_string())


class Ready:
    """A result table already in row order, with the same two ways of handing it out."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.num_rows = table.num_rows

    def part(self, start: int, stop: int) -> pa.Table:
        return self.table.slice(start, stop - start)

    def whole(self) -> pa.Table:
        return self.table

    def rows_at(self, positions: npt.NDArray[np.int64]) -> pa.Table:
        return self.table.take(pa.array(positions, pa.int64()))


def join_rows(
    pages: list[pa.Table],
    rows: Rows,
    in_batch: pa.ChunkedArray | None,
) -> tuple[Joined, int]:
    """``rows`` matched with their results, and how many rows got a result.

    ``pages`` holds the decoded results table, which this takes out of the list (pass no other
    reference: :meth:`Joined.whole` frees it column by column). ``in_batch``: the IDs the batch
    lists, when some rows may never have reached it; ``None`` means every row not skipped is in
    the batch. An ID listed twice keeps its first result.
    """
    results = pages.pop()
    n = len(rows.ids)
    positions = _positions(rows, results["batch_request_id"])
    order = np.full(n, -1, dtype=np.int64)
    order[positions[::-1]] = np.arange(results.num_rows - 1, -1, -1)  # the first one wins
    matched = n - int((order < 0).sum())
    if matched < results.num_rows:
        logger.warning("%d duplicate results (kept the first of each)", results.num_rows - matched)
    return Joined(results, order, rows, in_batch), matched


def join_batches(
    client: Client, batches: Sequence[Batch], rows: Rows, in_batch: pa.ChunkedArray | None
) -> Joined:
    """The results of ``batches`` matched to ``rows``, read again once if fewer rows got a
    result than the batches count finished, then an IncompleteResultsError."""
    finished = sum(b.num_finished for b in batches)
    ids = [b.batch_id for b in batches]
    for attempt in (1, 2):
        joined, matched = join_rows([read_pages(client, ids)], rows, in_batch)
        if matched >= finished:
            return joined
        del joined
        _short(finished, matched, attempt)
    raise incomplete(batches, matched)


def results_by_id(results: pa.Table, listed: pa.Table | None) -> pa.Table:
    """Result columns alone, one row per request (pending ones too), ordered by ID."""
    if listed is not None and listed.num_rows:
        have = results["batch_request_id"]
        rest = listed.filter(pc.invert(pc.is_in(listed["batch_request_id"], value_set=have)))
        results = pa.concat_tables([results, pending_rows(rest["batch_request_id"])])
    return results.take(pc.sort_indices(results, [("batch_request_id", "ascending")]))


def pending_rows(ids: pa.ChunkedArray | pa.Array, state: str | None = PENDING) -> pa.Table:
    """Result rows for ``ids`` with ``state`` and every other column null.

    >>> pending_rows(pa.array(["a"], pa.large_string())).column("state").to_pylist()
    ['pending']
    """
    n = len(ids)
    columns = [
        ids.cast(f.type)
        if f.name == "batch_request_id"
        else pa.repeat(pa.scalar(state, f.type), n)
        if f.name == "state"
        else pa.nulls(n, f.type)
        for f in RESULT_SCHEMA
    ]
    return pa.Table.from_arrays(columns, schema=RESULT_SCHEMA)
