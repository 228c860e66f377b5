"""The job commands of ``batchframe``: ``run`` (submit, wait, write), and the single steps
``submit``, ``status``, ``wait``, ``results``, ``cancel`` and ``ls``.

Commands write data (batch IDs, status, lists) to stdout and progress and summaries to stderr.
Errors are one or two lines on stderr with the exit codes listed in ``batchframe --help``.
"""

from __future__ import annotations

import pathlib
from typing import Any

import click
import orjson

from batchframe.cli.app import main
from batchframe.cli.cost import cost_options
from batchframe.cli.jobs import (
    cancel_summary,
    counts,
    input_options,
    make_request,
    manifest_folder,
    parse_dtypes,
    results_command,
    submit_file,
    write_results,
)
from batchframe.cli.listing import PAGE_SIZE, iter_listed, read_batch, select, shown_time, table
from batchframe.cli.session import CLIError, Connection, connect, connection_options
from batchframe.cli.tables import default_output, frame_format, read_frame

__all__ = ["cancel", "list_batches", "results", "run", "status", "submit_command", "wait"]

#: How many batches ``ls`` shows without --limit or --all.
DEFAULT_LS_LIMIT = 20

# -- run and submit ------------------------------------------------------------------------


RUN_HELP = """Submit every row of INPUT, wait with a progress bar, and write the joined results.

INPUT is a .csv, .parquet or .jsonl file. CSV cells are read as text, exactly as written: only
an empty cell is null (NA, null, None, nan are words like any other); --dtype COL=int or
COL=float reads a column as numbers. JSON Lines and Parquet keep their own types.

The output has every input column plus the result columns (state, content, error, token
counts, cost_usd, ...); its format follows the -o extension: .parquet (streamed), .csv or
.jsonl. Without -o it is INPUT's name with .results.parquet, next to INPUT. A one-line summary
goes to stderr.

\b
Example:
  batchframe run examples/reviews.csv --model grok-4.3 --local \\
    --template "Sentiment (positive, negative or neutral): {text}" \\
    --id-column review_id --param temperature=0 -o out/reviews.parquet
"""


@main.command(help=RUN_HELP)
@input_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    help="Results file: .parquet, .csv or .jsonl [default: INPUT.results.parquet].",
)
@cost_options
@connection_options
def run(conn: Connection, output: pathlib.Path | None, **options: Any) -> None:
    request = make_request(**options)
    output = output or default_output(request.input_path)
    frame_format(output)  # an unknown extension fails before anything is sent
    with connect(conn) as client, manifest_folder(conn) as manifests:
        job, rows = submit_file(request, client, manifests)
        try:
            click.echo(
                f"batch {job.batch_id or '(none: dedup and the cache answered all)'}", err=True
            )
            batch = job.wait(progress=request.progress)
        except KeyboardInterrupt:
            if not conn.is_local or conn.local_db is not None:  # the batch outlives us
                click.echo(f"Later: {results_command(job.batch_id, request, output)}", err=True)
            raise
        written = write_results(job, output, partial=True)  # wait returned: nothing pending
    skipped = rows - batch.num_requests - job.reused
    click.echo(
        f"{rows} rows: {counts(batch)}"
        + (f", {job.reused} answered without sending (duplicates, cache)" if job.reused else "")
        + (f", {skipped} skipped" if skipped > 0 else "")
        + f"; cost ${written.cost_usd:.4f}; wrote {written.path}",
        err=True,
    )


SUBMIT_HELP = """Submit every row of INPUT as a batch and print its batch ID (only that, on stdout).

Takes the same input options as `batchframe run`; follow the batch later with `status`,
`wait` and `results`. Rerunning the same submit (same --name and data) reattaches to the batch
and adds only what is missing.

\b
Example:
  id=$(batchframe submit examples/reviews.csv --template "Summarise: {text}" \\
         --model grok-4.3 --id-column review_id)
  batchframe wait "$id" && batchframe results "$id" --input examples/reviews.csv -o out.parquet
"""


@main.command(name="submit", help=SUBMIT_HELP)
@input_options
@cost_options
@connection_options
def submit_command(conn: Connection, **options: Any) -> None:
    request = make_request(**options)
    with connect(conn, need_db=True) as client:
        job, _ = submit_file(request, client, None)
    click.echo(job.batch_id)


@main.command(
    help="""Show a batch's request counters (--json: the batch exactly as the API returns it).

\b
Example:
  batchframe status batch_0a1b2c --json
"""
)
@click.argument("batch_id")
@click.option("--json", "as_json", is_flag=True, help="Print the batch as one JSON object.")
@connection_options
def status(conn: Connection, batch_id: str, as_json: bool) -> None:
    with connect(conn, need_db=True) as client:
        raw = orjson.loads(client.fetch_batch(batch_id))
    batch = read_batch(raw)
    if as_json:
        click.echo(orjson.dumps(raw).decode())
        return
    state = "done" if batch.is_done else "running"
    if batch.is_cancelled:
        state = "cancelled"
    elif batch.num_requests == 0:
        state = "empty"
    click.echo(f"batch     {batch.batch_id}")
    click.echo(f"name      {batch.name}")
    click.echo(f"created   {shown_time(raw.get('create_time'))}")
    click.echo(f"state     {state}")
    click.echo(f"requests  {batch.num_requests}: {counts(batch)}")


@main.command(
    help="""Wait with a progress bar until no request of the batch is pending.

Exits 4 when --timeout runs out first (the batch keeps running).

\b
Example:
  batchframe wait batch_0a1b2c --timeout 3600
"""
)
@click.argument("batch_id")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Give up after this many seconds [default: wait as long as it takes].",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@connection_options
def wait(conn: Connection, batch_id: str, timeout: float | None, no_progress: bool) -> None:
    from batchframe.frame.attach import attach

    with connect(conn, need_db=True) as client:
        batch = attach(batch_id, client=client).wait(timeout=timeout, progress=not no_progress)
    click.echo(f"{batch.batch_id}: {batch.num_requests} requests, {counts(batch)}", err=True)


@main.command(
    help="""Write the results of a batch to a .parquet, .csv or .jsonl file.

With --input (the file that was submitted) the output is that table with the result columns
joined on the request IDs; without it, the result columns alone. A batch with pending requests
is an error unless --partial (pending rows then have state "pending").

\b
Example:
  batchframe results batch_0a1b2c --input examples/reviews.csv \\
    --id-column review_id -o out/reviews.parquet
"""
)
@click.argument("batch_id")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    help="Results file: .parquet, .csv or .jsonl.",
)
@click.option(
    "--input",
    "input_path",
    metavar="INPUT",
    type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
    help="The submitted file, to join the results back onto.",
)
@click.option(
    "--id-column", metavar="COL", help="The ID column used at submit [default: row number]."
)
@click.option(
    "--dtype",
    "dtypes",
    multiple=True,
    metavar="COL=TYPE",
    help="Read CSV column COL of --input as int or float, as at submit (repeatable).",
)
@click.option(
    "--partial", is_flag=True, help="Write what has finished even if some requests are pending."
)
@connection_options
def results(
    conn: Connection,
    batch_id: str,
    output: pathlib.Path,
    input_path: pathlib.Path | None,
    id_column: str | None,
    dtypes: tuple[str, ...],
    partial: bool,
) -> None:
    from batchframe.frame.attach import attach

    frame_format(output)
    if dtypes and input_path is None:
        raise CLIError("--dtype reads columns of --input: give --input too.")
    frame = read_frame(input_path, parse_dtypes(dtypes)) if input_path is not None else None
    with connect(conn, need_db=True) as client:
        job = attach(batch_id, frame, id_column=id_column, client=client)
        written = write_results(job, output, partial=partial)
    click.echo(f"wrote {written.path}", err=True)


@main.command(
    help="""Cancel a batch: its pending requests end as cancelled (finished ones are kept).

Says how many requests it cancelled; on a batch with nothing pending (finished, or cancelled
before) it says that nothing was cancelled. Either way the exit code is 0.

\b
Example:
  batchframe cancel batch_0a1b2c
"""
)
@click.argument("batch_id")
@connection_options
def cancel(conn: Connection, batch_id: str) -> None:
    with connect(conn, need_db=True) as client:
        before = client.get_batch(batch_id)
        batch = client.cancel_batch(batch_id)
    click.echo(cancel_summary(before, batch), err=True)


LS_HELP = """List the team's batches, in the order the API returns them (newest first).

A table with a header: ID, creation date as the API sent it, request counters, name. At most
--limit batches (20 unless given), or --all; when more exist a line on stderr says so.
--name keeps the batches whose whole name matches a shell-style glob (* any text, ? one
character, [abc] one of these; case-sensitive; quote it so the shell leaves it alone).

\b
Example:
  batchframe ls --limit 5
  batchframe ls --name 'reviews-*' --all
  batchframe ls --json | jq '.[].batch_id'
"""


@main.command(name="ls", help=LS_HELP)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON array of the batches, as the API sent them.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    metavar="N",
    help="Show at most N batches [default: 20].",
)
@click.option("--all", "show_all", is_flag=True, help="Show every batch (no limit).")
@click.option(
    "--name", "pattern", metavar="PATTERN", help="Only batches whose name matches this glob."
)
@connection_options
def list_batches(
    conn: Connection, as_json: bool, limit: int | None, show_all: bool, pattern: str | None
) -> None:
    if show_all and limit is not None:
        raise CLIError("Give --limit N or --all, not both.")
    cap = None if show_all else (limit or DEFAULT_LS_LIMIT)
    page_size = min(cap + 1, PAGE_SIZE) if cap is not None and pattern is None else PAGE_SIZE
    with connect(conn, need_db=True) as client:
        rows, more = select(iter_listed(client, page_size), pattern=pattern, limit=cap)
    if as_json:
        click.echo(orjson.dumps([row.raw for row in rows]).decode())
    elif rows:
        for line in table(rows):
            click.echo(line)
    else:
        click.echo("no batches" + (f" whose name matches {pattern!r}" if pattern else ""), err=True)
    if more:
        click.echo(f"more: showing the first {cap}; use --all, or --limit N", err=True)
