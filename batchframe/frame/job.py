"""``Job``: one submitted batch and the frame it came from; ``bf.attach`` reattaches later.

>>> job = bf.submit(df, prompt="review", model="grok-4.3")   # doctest: +SKIP
>>> job.wait()                                               # doctest: +SKIP
>>> out = job.results()                                      # doctest: +SKIP
>>> job = bf.attach("batch_...", df)                         # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import logging
import pathlib
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd
import pyarrow.compute as pc

from batchframe._config import PollPolicy
from batchframe._progress import ProgressBar, progress_bar
from batchframe.client import Client
from batchframe.errors import APIError, WaitTimeoutError
from batchframe.models import Batch

__all__ = ["Job", "attach"]

logger = logging.getLogger("batchframe")

_RETRY_NAME = re.compile(r"^(?P<base>.*)-retry-(?P<n>\d+)$")


class Job:
    """A batch of requests built from a DataFrame, and how to follow and read it.

    ``ids`` are the request IDs of ``df``'s rows in row order; without them they are derived
    from ``df`` (``id_column`` values as strings, else the index labels as strings). Jobs come
    from :func:`~batchframe.submit` or :func:`~batchframe.attach`; the constructor does no I/O.

    >>> job = Job("batch_1", client=client, df=df)                # doctest: +SKIP
    >>> job.wait(timeout=600).num_success                         # doctest: +SKIP
    """

    def __init__(
        self,
        batch_id: str,
        *,
        client: Client,
        df: pd.DataFrame | None = None,
        ids: Iterable[str] | None = None,
        id_column: str | None = None,
        skipped_ids: Iterable[str] = (),
        response_model: Any = None,
        name: str | None = None,
        submit_kwargs: Mapping[str, Any] | None = None,
        owns_client: bool = False,
    ) -> None:
        self._batch_id = batch_id
        self._client = client
        # A shallow copy is a snapshot under copy-on-write (pandas 3): sorting or cutting the
        # caller's frame in place later cannot shift rows against ``_ids`` (a mis-join).
        self._df = None if df is None else df.copy(deep=False)
        self._ids = None if df is None else frame_ids(df, ids, id_column)
        self._id_column = id_column
        self._skipped = frozenset(str(i) for i in skipped_ids)
        self._response_model = response_model
        self.name = name
        self._submit_kwargs = None if submit_kwargs is None else dict(submit_kwargs)
        self._owns_client = owns_client
        self._batch: Batch | None = None

    # -- state -------------------------------------------------------------------------------

    @property
    def batch_id(self) -> str:
        return self._batch_id

    @property
    def batch(self) -> Batch | None:
        """The last :class:`~batchframe.Batch` seen (no network); ``None`` before any."""
        return self._batch

    @property
    def client(self) -> Client:
        return self._client

    def refresh(self) -> Batch:
        """Fetch the batch and its counters now.

        >>> job.refresh().num_pending                                # doctest: +SKIP
        """
        self._batch = self._client.get_batch(self._batch_id)
        if not self.name:
            self.name = self._batch.name or None
        return self._batch

    def cancel(self) -> Batch:
        """Cancel the batch: pending requests become ``cancelled`` rows ("Batch cancelled").

        >>> job.cancel().num_cancelled                                # doctest: +SKIP
        """
        self._batch = self._client.cancel_batch(self._batch_id)
        return self._batch

    def close(self) -> None:
        """Close the client if this job created it (``submit``/``attach`` without ``client``)."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Job:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- waiting -----------------------------------------------------------------------------

    def wait(
        self,
        timeout: float | None = None,
        progress: bool = True,
        *,
        poll: PollPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> Batch:
        """Poll until no request is pending, with a progress bar; return the final Batch.

        Polls start ``poll.initial`` seconds apart and grow by ``poll.factor`` up to
        ``poll.maximum``. ``timeout`` (seconds) raises :class:`~batchframe.WaitTimeoutError`
        carrying the last Batch seen. Ctrl-C stops waiting but leaves the batch running (it is
        not cancelled) and tells how to reattach. Plain blocking calls, no asyncio, so it works
        inside Jupyter's running event loop.

        >>> job.wait(timeout=3600)                                  # doctest: +SKIP
        """
        policy = poll or PollPolicy()
        deadline = None if timeout is None else clock() + timeout
        delay = policy.initial
        desc = self.name or self._batch_id
        try:
            batch = self.refresh()
            # Start the bar at what is already finished, so its rate counts only new progress.
            with progress_bar(
                total=batch.num_requests,
                initial=batch.num_finished,
                desc=desc,
                unit="req",
                enabled=progress,
            ) as bar:
                while True:
                    _show(bar, batch)
                    if _settled(batch):
                        return batch
                    if deadline is not None and clock() >= deadline:
                        raise WaitTimeoutError(_timeout_message(batch, timeout or 0.0), batch)
                    sleep(delay if deadline is None else min(delay, deadline - clock()))
                    delay = min(delay * policy.factor, policy.maximum)
                    batch = self.refresh()
        except KeyboardInterrupt:
            self._hint_reattach()
            raise

    def _hint_reattach(self) -> None:
        frame = ", df" if self._df is not None else ""
        hint = (
            f"\nStopped waiting; batch {self._batch_id} keeps running (not cancelled). "
            f'Reattach later with bf.attach("{self._batch_id}"{frame}).\n'
        )
        logger.info(hint.strip())
        # A closed or odd stderr must not mask the interrupt.
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(hint)

    # -- reading -----------------------------------------------------------------------------

    def _source(self) -> Any:
        from batchframe.frame.results import ResultSource

        return ResultSource(
            client=self._client,
            batch_id=self._batch_id,
            df=self._df,
            ids=self._ids,
            skipped_ids=self._skipped,
            response_model=self._response_model,
        )

    def results(self, partial: bool = False) -> pd.DataFrame:
        """The input frame (same index and row order) plus the result columns.

        Columns added: ``batch_request_id``, ``state``, ``content``, ``reasoning_content``,
        ``finish_reason``, ``model``, the token counts (Int64), ``cost_usd`` (Float64) and
        ``error``; with a ``response_model``, one column per field plus ``parse_error``. Rows
        without a result are ``pending`` (or ``skipped``). Before the batch is done this raises
        unless ``partial=True``. Attached by ID alone, it is the result columns, one row per
        request, ordered by ``batch_request_id``.

        >>> job.results()[["content", "state"]]                      # doctest: +SKIP
        """
        from batchframe.frame.results import collect_results

        return collect_results(self._source(), self.refresh(), partial=partial)

    def to_parquet(self, path: str | pathlib.Path) -> pathlib.Path:
        """Stream the same table as ``results(partial=True)`` to a Parquet file, page by page.

        Rows come in result-page order (by ``batch_request_id``), then the rows without a
        result in frame order; ``pd.read_parquet`` restores the index and the dtypes.

        >>> job.to_parquet("out/reviews.parquet")                   # doctest: +SKIP
        PosixPath('out/reviews.parquet')
        """
        from batchframe.frame.parquet import write_parquet

        return write_parquet(self._source(), self.refresh(), path)

    def cost(self) -> Any:
        """Token and cost totals over the finished rows (a ``CostSummary``).

        Totals come from the result pages; ``pending`` and ``rows`` from the batch counters.

        >>> job.cost()                                              # doctest: +SKIP
        """
        from batchframe.frame.cost import summarize_cost
        from batchframe.frame.results import iter_result_pages, result_table

        batch = self.refresh()
        summary = summarize_cost(result_table(iter_result_pages(self._client, self._batch_id)))
        return dataclasses.replace(
            summary, rows=summary.rows + batch.num_pending, pending=batch.num_pending
        )

    # -- retrying ----------------------------------------------------------------------------

    def retry_failed(self, **overrides: Any) -> Job:
        """Submit the failed rows again as a new batch; its results join on the same IDs.

        ``overrides`` replace the original ``submit`` arguments (``model=``, ``max_tokens=``,
        ``name=``, ...). The new batch is named ``"<name>-retry-<n>"``; rerunning the same retry
        reattaches to it (``submit``'s manifest) rather than sending the rows twice.

        >>> retry = job.retry_failed(max_tokens=2048)               # doctest: +SKIP
        """
        if self._df is None or self._submit_kwargs is None or self._ids is None:
            raise ValueError(
                f"retry_failed needs the input frame and the submit settings; job "
                f"{self._batch_id} was attached without them. Submit the failed rows yourself: "
                "bf.submit(df[failed], ...)."
            )
        failed = self._failed_ids()
        mask = self._ids.isin(failed)
        if not mask.any():
            raise ValueError(f"Batch {self._batch_id} has no failed rows to retry.")
        from batchframe.frame.submit import submit

        kwargs: dict[str, Any] = {**self._submit_kwargs, **overrides}
        kwargs.setdefault("client", self._client)
        kwargs.setdefault("name", retry_name(self.name or self._batch_id))
        # The failed rows keep their index labels / ID column, so they keep their request IDs.
        job: Job = submit(self._df[mask], **kwargs)
        return job

    def _failed_ids(self) -> list[str]:
        from batchframe.frame.results import iter_result_pages, result_table

        table = result_table(iter_result_pages(self._client, self._batch_id))
        failed = table.filter(pc.equal(table["state"], "failed"))
        return [str(i) for i in failed["batch_request_id"].to_pylist()]

    # -- display -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        """Plain text from the last Batch seen; never does network."""
        return f"Job(name={self.name!r}, batch_id={self._batch_id!r}, {_counts_text(self._batch)})"

    def _repr_html_(self) -> str:
        """A small HTML summary for notebooks.

        It refreshes the batch once when the last one seen is missing or still running (one
        GET); if that fails it shows the last state seen. ``repr()`` never does network.
        """
        if self._batch is None or not _settled(self._batch):
            try:
                self.refresh()
            except APIError as exc:
                logger.debug("could not refresh %s for display: %s", self._batch_id, exc)
        return job_html(self.name, self._batch_id, self._batch)


def frame_ids(df: pd.DataFrame, ids: Iterable[str] | None, id_column: str | None) -> pd.Index:
    """Request IDs of ``df``'s rows, in row order (derived as ``submit`` derives them).

    >>> list(frame_ids(pd.DataFrame({"x": [1, 2]}, index=[10, 20]), None, None))
    ['10', '20']
    """
    if ids is None:
        from batchframe.frame.columns import request_ids  # validates: unique, non-null, ...

        derived: pd.Index = pd.Index(
            request_ids(df, id_column).to_numpy(zero_copy_only=False), dtype=object
        )
        return derived
    index = pd.Index(list(ids), dtype=object)
    if len(index) != len(df):
        raise ValueError(f"got {len(index)} ids for a frame of {len(df)} rows")
    dup = index.duplicated(keep=False)
    if dup.any():
        raise ValueError(f"request IDs must be unique; repeated: {sorted(set(index[dup]))[:5]}")
    return index


def retry_name(name: str) -> str:
    """The next retry's batch name.

    >>> retry_name("reviews"), retry_name("reviews-retry-1")
    ('reviews-retry-1', 'reviews-retry-2')
    """
    match = _RETRY_NAME.match(name)
    if match is None:
        return f"{name}-retry-1"
    return f"{match['base']}-retry-{int(match['n']) + 1}"


def attach(
    batch_id: str,
    df: pd.DataFrame | None = None,
    *,
    id_column: str | None = None,
    client: Client | None = None,
    **kwargs: Any,
) -> Job:
    """Reattach to a batch by ID, from any process, with or without its input frame.

    When ``submit`` left a manifest for the batch, its name, ID column, model and base URL are
    used where not given. ``kwargs`` go to :class:`Job` (``response_model=``, ``skipped_ids=``,
    ``submit_kwargs=``, ...). No network call is made here.

    >>> job = bf.attach("batch_0f3c...", df)                     # doctest: +SKIP
    >>> job.results()                                            # doctest: +SKIP
    """
    from batchframe.frame.manifest import find_manifest

    manifest = find_manifest(batch_id)
    owns = client is None
    if manifest is not None:
        if id_column is None:
            id_column = manifest.id_column
        kwargs.setdefault("name", manifest.name)
        if manifest.submit_kwargs is not None and df is not None:
            kwargs.setdefault("submit_kwargs", manifest.submit_kwargs)
        if df is not None:
            kwargs.setdefault("skipped_ids", manifest.skipped_ids)
        if client is None:
            client = Client(base_url=manifest.base_url)
    if client is None:
        client = Client()
    return Job(batch_id, client=client, df=df, id_column=id_column, owns_client=owns, **kwargs)


# -- display helpers --------------------------------------------------------------------------


def _settled(batch: Batch) -> bool:
    """No request is pending: done, or a cancelled batch with nothing left to do."""
    return batch.is_done or (batch.is_cancelled and batch.num_pending == 0)


def _show(bar: ProgressBar, batch: Batch) -> None:
    bar.set_total(batch.num_requests)
    bar.set_count(batch.num_finished)
    bar.set_postfix(
        f"ok={batch.num_success} failed={batch.num_error} cancelled={batch.num_cancelled}"
    )


def _timeout_message(batch: Batch, timeout: float) -> str:
    return (
        f"Batch {batch.batch_id} still has {batch.num_pending} of {batch.num_requests} requests "
        f"pending after {timeout:g}s. It keeps running: call wait() again, or read what is done "
        "with results(partial=True). The last state seen is on this error's .batch."
    )


def _counts_text(batch: Batch | None) -> str:
    if batch is None:
        return "not fetched yet"
    return (
        f"requests={batch.num_requests}, ok={batch.num_success}, failed={batch.num_error}, "
        f"cancelled={batch.num_cancelled}, pending={batch.num_pending}"
    )


def job_html(name: str | None, batch_id: str, batch: Batch | None) -> str:
    """The notebook summary of a job: name, ID, counts and an HTML progress bar."""
    title = html.escape(name or "(unnamed)")
    head = f"<b>batchframe Job</b> {title} <code>{html.escape(batch_id)}</code>"
    if batch is None:
        return f"<div>{head}<br><i>state not fetched yet</i></div>"
    total = max(batch.num_requests, 1)
    counts = html.escape(_counts_text(batch))
    bar = f'<progress value="{batch.num_finished}" max="{total}"></progress>'
    return f"<div>{head}<br>{bar} {batch.num_finished}/{batch.num_requests}<br>{counts}</div>"
