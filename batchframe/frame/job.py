"""``Job``: a submitted job (one batch per shard) and its input; ``bf.attach`` finds it again.

>>> job = bf.submit(df, prompt="review", model="grok-4.3")   # doctest: +SKIP
>>> job.wait()                                               # doctest: +SKIP
>>> out = job.results()                                      # doctest: +SKIP
>>> job = bf.attach("reviews-v1", df)                        # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import pathlib
import sys
import time
import weakref
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from batchframe._config import DEFAULT_MAX_BATCH_REQUESTS, PollPolicy
from batchframe._hints import Term, arg, render, say
from batchframe._progress import ProgressBar, progress_bar
from batchframe.client import Client
from batchframe.errors import APIError, NotFinishedError, WaitTimeoutError
from batchframe.frame.display import counts_text, job_html, summed_batch
from batchframe.frame.reading import JobInput, Shard
from batchframe.frame.sources import Source, as_source
from batchframe.frame.spec import RequestSpec
from batchframe.models import Batch, BatchState

__all__ = ["Job", "settled"]

logger = logging.getLogger("batchframe")


def settled(batch: Batch) -> bool:
    """Nothing left to wait for: no request pending (a file batch not yet read does not count).

    >>> settled(Batch(batch_id="b", state=BatchState()))
    True
    """
    if batch.num_pending:
        return False
    unread_file = batch.input_file_id is not None and batch.num_requests == 0
    return not unread_file or batch.is_cancelled


class Job:
    """A submitted job: one batch per shard, and how to follow it and read it back.

    Jobs come from :func:`~batchframe.submit` and :func:`~batchframe.attach`; the constructor
    does no I/O. ``batch_id`` is the first shard's batch, ``batch_ids`` every shard's in row
    order. A job that made its own client closes it on :meth:`close`, at the end of a ``with``
    block, or when it is garbage-collected.

    >>> with bf.submit(df, prompt="q", model="grok-4.3") as job:  # doctest: +SKIP
    ...     job.wait(); out = job.results()
    """

    def __init__(
        self,
        batch_id: str | Sequence[Shard],
        *,
        client: Client,
        data: Any = None,
        spec: RequestSpec | None = None,
        id_column: Hashable | None = None,
        response_model: Any = None,
        name: str | None = None,
        owns_client: bool = False,
        kept_ids: dict[int, Any] | None = None,
        check_ids: bool = False,
        manifest_dir: Any = None,
        max_batch_requests: int | None = None,
        reuse: Any = None,
    ) -> None:
        shards = [Shard(1, batch_id)] if isinstance(batch_id, str) else list(batch_id)
        if not shards:
            raise ValueError("a job needs at least one batch")
        self._shards = shards
        self._client = client
        self._spec = spec
        source: Source | None = None if data is None else as_source(data)
        column = id_column if id_column is not None else (spec.id_column if spec else None)
        self._input = JobInput(source, spec, column, kept_ids)
        self._response_model = (
            response_model
            if response_model is not None
            else (spec.response_model if spec is not None else None)
        )
        self.name = name
        self._named = name is not None  # a job name (not just its batch's) reattaches every shard
        self._check_ids = check_ids
        self._manifest_dir = manifest_dir
        self._max_batch_requests = max_batch_requests
        self._retry_of: Job | None = None
        self._batches: dict[str, Batch] = {}
        self._reuse = reuse  # dedup and cache: a frame.reuse.Reuse, or None
        #: The estimate made at submit (``max_cost_usd=``), which the wait bar's spend uses.
        self.estimate: Any = None
        #: Requests this submit answered without sending them (duplicates, cached answers).
        self.reused = 0
        self._closer = weakref.finalize(self, client.close) if owns_client else None

    # -- state -------------------------------------------------------------------------------

    @property
    def batch_id(self) -> str:
        """The first shard's batch ID (the only one of a one-shard job); ``""`` when dedup and
        the cache answered every request, so no batch was created."""
        ids = self.batch_ids
        return ids[0] if ids else ""

    @property
    def batch_ids(self) -> tuple[str, ...]:
        """Every shard's batch ID, in row order (a shard answered without a batch has none)."""
        return tuple(s.batch_id for s in self._shards if s.batch_id)

    @property
    def shards(self) -> tuple[Shard, ...]:
        return tuple(self._shards)

    @property
    def spec(self) -> RequestSpec | None:
        """What was sent for each row, when known (submit, or a manifest)."""
        return self._spec

    @property
    def batch(self) -> Batch | None:
        """The last state seen (no network), shards summed; ``None`` before any."""
        seen = [self._batches.get(b) for b in self.batch_ids]
        if any(b is None for b in seen):
            return None
        if not seen:  # every request answered by dedup or the cache: nothing to wait for
            return Batch(batch_id="", name=self.name or "", state=BatchState())
        return summed_batch([b for b in seen if b is not None], self.name)

    @property
    def client(self) -> Client:
        return self._client

    def refresh(self) -> Batch:
        """Fetch every shard's batch now; a multi-shard job sums their counters.

        >>> job.refresh().num_pending                                # doctest: +SKIP
        """
        for batch_id in self.batch_ids:
            self._batches[batch_id] = self._client.get_batch(batch_id)
        batch = self.batch
        assert batch is not None
        if not self.name and self.batch_id:
            self.name = self._batches[self.batch_id].name or None
        return batch

    def cancel(self) -> Batch:
        """Cancel every shard: pending requests become ``cancelled`` rows ("Batch cancelled").

        >>> job.cancel().num_cancelled                                # doctest: +SKIP
        """
        for batch_id in self.batch_ids:
            self._batches[batch_id] = self._client.cancel_batch(batch_id)
        batch = self.batch
        assert batch is not None
        return batch

    def close(self) -> None:
        """Close the client if this job created it (``submit``/``attach`` without ``client``)."""
        if self._closer is not None:
            self._closer()

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
        """Poll until no request of any shard is pending, with one progress bar; return the
        final Batch (shards summed).

        Polls start ``poll.initial`` seconds apart and grow by ``poll.factor`` up to
        ``poll.maximum``. ``timeout`` (seconds) raises :class:`~batchframe.WaitTimeoutError`
        carrying the last Batch seen. A batch with nothing pending (an empty one too) returns at
        once. Ctrl-C stops waiting but leaves the batches running (they are not cancelled) and
        tells how to reattach. Plain blocking calls, no asyncio, so it works in Jupyter.

        >>> job.wait(timeout=3600)                                  # doctest: +SKIP
        """
        policy = poll or PollPolicy()
        deadline = None if timeout is None else clock() + timeout
        delay = policy.initial
        try:
            batch = self.refresh()
            with progress_bar(
                total=batch.num_requests,
                initial=batch.num_finished,
                desc=self.name or self.batch_id,
                unit="req",
                enabled=progress,
            ) as bar:
                while True:
                    _show(bar, batch, self.estimate)
                    if self.finished:
                        return batch
                    if deadline is not None and clock() >= deadline:
                        raise WaitTimeoutError(_timeout_message(batch, timeout or 0.0), batch)
                    sleep(delay if deadline is None else min(delay, deadline - clock()))
                    delay = min(delay * policy.factor, policy.maximum)
                    batch = self._refresh_unsettled()
        except KeyboardInterrupt:
            self._hint_reattach()
            raise

    @property
    def finished(self) -> bool:
        """Every shard seen settled (no network; see :meth:`refresh`)."""
        seen = [self._batches.get(b) for b in self.batch_ids]
        return all(b is not None and settled(b) for b in seen)

    def _refresh_unsettled(self) -> Batch:
        for batch_id in self.batch_ids:
            known = self._batches.get(batch_id)
            if known is None or not settled(known):
                self._batches[batch_id] = self._client.get_batch(batch_id)
        batch = self.batch
        assert batch is not None
        return batch

    def _hint_reattach(self) -> None:
        target = self.name if self._named and self.name else self.batch_id
        later = Term(
            f'bf.attach("{target}"' + (", df" if self._input.source is not None else "") + ")",
            f"`batchframe wait {target}`, then `batchframe results {target} ... -o FILE`",
        )
        hint = render(
            say(
                f"\nStopped waiting; job {target} keeps running (not cancelled). ",
                Term("Reattach later with ", "Follow it later with "),
                later,
                ".\n",
            )
        )
        logger.info(hint.strip())
        with contextlib.suppress(OSError, ValueError):  # a closed stderr must not mask Ctrl-C
            sys.stderr.write(hint)

    # -- reading -----------------------------------------------------------------------------

    def _ready(self, partial: bool) -> dict[str, Batch]:
        batch = self.refresh()
        if not partial and not self.finished:
            target = self.name or self.batch_id
            raise NotFinishedError(
                say(
                    f"Job {target} is not finished ({batch.num_pending} of "
                    f"{batch.num_requests} requests pending). ",
                    Term("Call job.wait() first", f"Run `batchframe wait {target}` first"),
                    ", or pass ",
                    arg("partial", True),
                    " for the rows finished so far (the rest come back as 'pending').",
                ),
                batch,
            )
        return dict(self._batches)

    def batches_to_read(self, partial: bool) -> dict[str, Batch]:
        """Every shard's batch fetched now; unless ``partial``, a NotFinishedError while any
        request is pending."""
        return self._ready(partial)

    def results(self, partial: bool = False) -> Any:
        """The input rows (same index and row order) plus the result columns.

        Returns the kind of table that went in: pandas for pandas (and for files), polars for
        polars, a pyarrow Table for Arrow. Columns added: ``batch_request_id``, ``state``,
        ``content``, ``reasoning_content``, ``finish_reason``, ``model``, the token counts
        (Int64), ``cost_usd`` (Float64), ``error`` and ``origin``; with a ``response_model``,
        one column per field plus ``parse_error``. Rows without a result are ``pending``,
        ``skipped`` or ``not_sent`` (a warning then says how to finish the upload: see
        :meth:`resume_upload`). A job from :meth:`retry_failed` returns every row of the
        original input: the retried rows with their new answers, the others as they were
        (same ``origin`` and ``cost_usd``). Before every shard is done this raises
        :class:`~batchframe.NotFinishedError` unless ``partial=True``. Attached without the
        input, it is the result columns alone, one row per request, shard by shard, by ID.

        >>> job.results()[["content", "state"]]                      # doctest: +SKIP
        """
        from batchframe.frame.collect import collect_results

        return collect_results(self, self._ready(partial))

    def to_parquet(self, path: str | pathlib.Path) -> pathlib.Path:
        """Stream the same table as ``results(partial=True)`` to a Parquet file, in the input's
        row order, shard by shard: memory holds one shard's results, not the job's (for a
        retry, also the retried rows' results).

        ``pd.read_parquet`` gives back a pandas input's index and dtypes.

        >>> job.to_parquet("out/reviews.parquet")                   # doctest: +SKIP
        PosixPath('out/reviews.parquet')
        """
        from batchframe.frame.parquet import write_parquet

        return write_parquet(self, self._ready(partial=True), path)

    def cost(self) -> Any:
        """Token and cost totals over the finished rows of every shard (a ``CostSummary``).

        >>> job.cost()                                              # doctest: +SKIP
        """
        from batchframe.frame.cost import job_cost, reused_cost

        if self._reuse is not None:
            return reused_cost(self, self._ready(partial=True))
        return job_cost(self._client, self.batch_ids, self._ready(partial=True))

    def retry_failed(self, **overrides: Any) -> Job:
        """Submit the failed rows of every shard again as a new job; its rows keep their IDs.

        ``overrides`` replace what was sent (``model=``, ``max_tokens=``, ...) or the submit
        options (``name=``, ``client=``, ...). The new job is named ``"<name>-retry-<n>"``;
        rerunning the same retry reattaches to it rather than sending the rows twice. Its
        ``results()`` and ``to_parquet()`` cover every row of this job, the retried rows
        replaced by their new answers; its ``wait()``, ``cost()`` and ``cancel()`` are the
        retry's own batches. A job with no failed rows but rows never sent says how to send
        them (:meth:`resume_upload`).

        >>> retry = job.retry_failed(max_tokens=2048)               # doctest: +SKIP
        """
        from batchframe.frame.retry import retry_failed

        return retry_failed(self, self._ready(partial=True), overrides)

    def resume_upload(self, data: Any = None) -> Job:
        """Send the rows an interrupted upload never sent (``not_sent``), as the same ``submit``
        would: the same batches, nothing sent twice. Returns the resumed job.

        Needs what was sent (a manifest: a job from ``submit``, or ``attach`` on the machine
        that submitted it) and the input (``data``, else the job's own).

        >>> job = bf.attach("reviews-v1", df).resume_upload()        # doctest: +SKIP
        """
        from batchframe.frame.submit import SendOptions, submit_spec

        source = as_source(data) if data is not None else self._input.source
        if self._spec is None or source is None or not self._named or not self.name:
            raise ValueError(
                f"resume_upload needs the input and what was sent; job {self.name or self.batch_id} "
                "has no manifest with its settings here, or was attached without its input. Run "
                "the same bf.submit(...) again (same input, arguments and name) instead."
            )
        send = SendOptions(
            max_batch_requests=self._max_batch_requests or DEFAULT_MAX_BATCH_REQUESTS
        )
        return submit_spec(
            source, self._spec, send, name=self.name, client=self._client,
            manifest_dir=self._manifest_dir,
        )  # fmt: skip

    @property
    def retry_of(self) -> Job | None:
        """The job whose failed rows this one retried (``retry_failed``), else None."""
        return self._retry_of

    def _merge_into(self, parent: Job) -> None:
        self._retry_of = parent

    @property
    def input(self) -> JobInput:
        return self._input

    @property
    def response_model(self) -> Any:
        return self._response_model

    @property
    def manifest_dir(self) -> Any:
        """Where this job's manifest is kept (``None``: the default place)."""
        return self._manifest_dir

    @property
    def reuse(self) -> Any:
        """Where this job's dedup plans and cache are (``None``: every row was sent)."""
        return self._reuse

    @property
    def checks_ids(self) -> bool:
        """Whether results must check every server ID against the input (no manifest)."""
        return self._check_ids

    # -- display -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        """Plain text from the last state seen; never does network."""
        shards = f", shards={len(self._shards)}" if len(self._shards) > 1 else ""
        return (
            f"Job(name={self.name!r}, batch_id={self.batch_id!r}{shards}, "
            f"{counts_text(self.batch)})"
        )

    def _repr_html_(self) -> str:
        """A small HTML summary for notebooks (one GET per shard while it runs)."""
        if not self.finished:
            try:
                self.refresh()
            except APIError as exc:
                logger.debug("could not refresh %s for display: %s", self.batch_id, exc)
        return job_html(self.name, self.batch_ids, self.batch)


def _show(bar: ProgressBar, batch: Batch, estimate: Any = None) -> None:
    from batchframe.frame.estimate import usd

    bar.set_total(batch.num_requests)
    bar.set_count(batch.num_finished)
    spend = ""
    if estimate is not None and estimate.cost_usd is not None and batch.num_requests:
        # the estimate's share of what is finished: a running figure, not the bill
        spent = estimate.cost_usd * batch.num_finished / batch.num_requests
        spend = f"spent~{usd(spent)} of ~{usd(estimate.cost_usd)} "
    bar.set_postfix(
        f"{spend}ok={batch.num_success} failed={batch.num_error} cancelled={batch.num_cancelled}"
    )


def _timeout_message(batch: Batch, timeout: float) -> str:
    target = batch.name or batch.batch_id
    return say(
        f"Job {target} still has {batch.num_pending} of {batch.num_requests} requests pending "
        f"after {timeout:g}s. It keeps running: ",
        Term("call wait() again", f"run `batchframe wait {batch.batch_id}` again"),
        ", or read what is done with ",
        Term(
            "results(partial=True). The last state seen is on this error's .batch.",
            f"`batchframe results {batch.batch_id} --partial -o FILE`.",
        ),
    )
