"""The ``batchframe`` command line: ``run`` (submit, wait, write), the single steps ``submit``,
``status``, ``wait``, ``results``, ``cancel``, ``ls``, and ``serve`` (the local batch server).

Commands write data (batch IDs, status, lists) to stdout and progress and summaries to stderr.
Errors are one or two lines on stderr with the exit codes listed in ``batchframe --help``.
"""

from __future__ import annotations

import itertools
import pathlib
from typing import Any

import click

from batchframe._cli_io import default_output, frame_format, read_frame
from batchframe._cli_jobs import (
    batch_json,
    counts,
    format_time,
    input_options,
    make_request,
    manifest_folder,
    results_command,
    submit_file,
    write_results,
)
from batchframe._cli_session import (
    CommandGroup,
    Connection,
    connect,
    connection_options,
    install_log_handler,
)

__all__ = ["main"]

EPILOG = """\b
Exit codes:
  0    done; rows that failed are data (the error column), not an error
  1    an unexpected error (--debug shows the traceback)
  2    bad usage or bad input: unknown option, missing column, no API key
  3    the API failed: no connection, or an error status (unknown batch ID, ...)
  4    not finished yet: wait --timeout ran out, or results without --partial
  130  interrupted (Ctrl-C)

\b
Without --local the key comes from --api-key or XAI_API_KEY, the URL from
--base-url or XAI_BASE_URL. Data (batch IDs, status, lists) goes to stdout;
progress bars and summaries go to stderr.
"""


@click.group(cls=CommandGroup, epilog=EPILOG)
@click.version_option(package_name="batchframe")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
def main(debug: bool) -> None:
    """batchframe: run xAI Batch API jobs over DataFrame columns.

    \b
    Example (offline, against a local batch server started in-process):
      batchframe run examples/reviews.csv --model grok-4.3 --local \\
        --template "Sentiment of this review: {text}" -o out/reviews.parquet
    """
    install_log_handler(debug)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--db", default=":memory:", show_default=True, help="SQLite file (or :memory:).")
@click.option(
    "--keys",
    "keys_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Keys file: one 'key team' pair a line. Default: any key, one team.",
)
@click.option(
    "--speed",
    default=0.0,
    type=float,
    show_default=True,
    help="Requests processed per second (0 = as fast as it can).",
)
@click.option(
    "--fail-rate",
    default=0.0,
    type=float,
    show_default=True,
    help="Share of requests that end failed.",
)
@click.option(
    "--http-error-rate",
    default=0.0,
    type=float,
    show_default=True,
    help="Share of API calls answered 500 or 503.",
)
@click.option(
    "--drop-rate",
    default=0.0,
    type=float,
    show_default=True,
    help="Share of connections closed with no reply.",
)
@click.option(
    "--latency", default=0.0, type=float, show_default=True, help="Seconds added to each API call."
)
@click.option(
    "--add-calls-per-30s",
    type=float,
    default=None,
    help="Add-requests calls allowed per team per 30 s (429 past it).",
)
@click.option(
    "--creates-per-second",
    type=float,
    default=None,
    help="Batch creations allowed per team per second (429 past it).",
)
@click.option(
    "--max-body-mb",
    default=25.0,
    type=float,
    show_default=True,
    help="Largest request body in MB (413 past it).",
)
@click.option(
    "--time-format",
    type=click.Choice(["date", "rfc3339"]),
    default="date",
    show_default=True,
    help="How times are written.",
)
@click.option("--seed", type=int, default=None, help="Seed for faults and failures.")
def serve(
    host: str,
    port: int,
    db: str,
    keys_file: str | None,
    speed: float,
    fail_rate: float,
    http_error_rate: float,
    drop_rate: float,
    latency: float,
    add_calls_per_30s: float | None,
    creates_per_second: float | None,
    max_body_mb: float,
    time_format: str,
    seed: int | None,
) -> None:
    """Run the local batch server (the xAI Batch REST API, offline).

    \b
    Example:
      batchframe serve --port 8000 --db batches.sqlite --speed 500
      export XAI_BASE_URL=http://127.0.0.1:8000/v1 XAI_API_KEY=local-key
    """
    from batchframe.server.config import ServerConfig, load_keys
    from batchframe.server.runner import run_forever

    try:
        config = ServerConfig(
            db=db,
            keys=load_keys(keys_file) if keys_file else None,
            speed=speed,
            fail_rate=fail_rate,
            http_error_rate=http_error_rate,
            drop_rate=drop_rate,
            latency=latency,
            add_calls_per_30s=add_calls_per_30s,
            creates_per_second=creates_per_second,
            max_body_mb=max_body_mb,
            time_format="rfc3339" if time_format == "rfc3339" else "date",
            seed=seed,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"batchframe local batch server on http://{shown}:{port}/v1", err=True)
    run_forever(host, port, config)


# -- run and submit ------------------------------------------------------------------------


RUN_HELP = """Submit every row of INPUT, wait with a progress bar, and write the joined results.

INPUT is a .csv, .parquet or .jsonl file. The output has every input column plus the result
columns (state, content, error, token counts, cost_usd, ...); its format follows the -o
extension: .parquet (streamed), .csv or .jsonl. Without -o it is INPUT's name with
.results.parquet, next to INPUT. A one-line summary goes to stderr.

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
@connection_options
def run(conn: Connection, output: pathlib.Path | None, **options: Any) -> None:
    request = make_request(**options)
    output = output or default_output(request.input_path)
    frame_format(output)  # an unknown extension fails before anything is sent
    with connect(conn) as client, manifest_folder(conn) as manifests:
        job, rows = submit_file(request, client, manifests)
        try:
            click.echo(f"batch {job.batch_id}", err=True)
            batch = job.wait(progress=request.progress)
        except KeyboardInterrupt:
            if not conn.is_local or conn.local_db is not None:  # the batch outlives us
                click.echo(f"Later: {results_command(job.batch_id, request, output)}", err=True)
            raise
        written = write_results(job, output, partial=True)  # wait returned: nothing pending
    skipped = rows - batch.num_requests
    click.echo(
        f"{rows} rows: {counts(batch)}"
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
@connection_options
def submit_command(conn: Connection, **options: Any) -> None:
    request = make_request(**options)
    with connect(conn, need_db=True) as client:
        job, _ = submit_file(request, client, None)
    click.echo(job.batch_id)


@main.command(
    help="""Show a batch's request counters (--json: the batch as the API returns it).

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
        batch = client.get_batch(batch_id)
    if as_json:
        click.echo(batch_json(batch))
        return
    state = "done" if batch.is_done else "running"
    if batch.is_cancelled:
        state = "cancelled"
    elif batch.num_requests == 0:
        state = "empty"
    click.echo(f"batch     {batch.batch_id}")
    click.echo(f"name      {batch.name}")
    click.echo(f"created   {format_time(batch.create_time)}")
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
    from batchframe.frame.job import attach

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
    "--partial", is_flag=True, help="Write what has finished even if some requests are pending."
)
@connection_options
def results(
    conn: Connection,
    batch_id: str,
    output: pathlib.Path,
    input_path: pathlib.Path | None,
    id_column: str | None,
    partial: bool,
) -> None:
    from batchframe.frame.job import attach

    frame_format(output)
    frame = read_frame(input_path) if input_path is not None else None
    with connect(conn, need_db=True) as client:
        job = attach(batch_id, frame, id_column=id_column, client=client)
        written = write_results(job, output, partial=partial)
    click.echo(f"wrote {written.path}", err=True)


@main.command(
    help="""Cancel a batch: its pending requests end as cancelled (finished ones are kept).

\b
Example:
  batchframe cancel batch_0a1b2c
"""
)
@click.argument("batch_id")
@connection_options
def cancel(conn: Connection, batch_id: str) -> None:
    with connect(conn, need_db=True) as client:
        batch = client.cancel_batch(batch_id)
    click.echo(f"cancelled {batch.batch_id}: {counts(batch)}", err=True)


@main.command(
    name="ls",
    help="""List the team's batches, in the order the API returns them.

\b
Example:
  batchframe ls --limit 5
  batchframe ls --json | jq '.[].batch_id'
""",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array of batches.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Show at most this many batches.",
)
@connection_options
def list_batches(conn: Connection, as_json: bool, limit: int) -> None:
    with connect(conn, need_db=True) as client:
        batches = list(itertools.islice(client.iter_batches(limit=min(limit, 100)), limit))
    if as_json:
        click.echo("[" + ",".join(batch_json(b) for b in batches) + "]")
        return
    for b in batches:
        click.echo(
            f"{b.batch_id}\t{format_time(b.create_time)}\t{b.num_requests:>7} req\t{counts(b)}\t{b.name}"
        )
