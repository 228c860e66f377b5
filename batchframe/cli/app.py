"""The ``batchframe`` command group: its help, exit codes and global ``--debug`` flag.

The commands themselves live in :mod:`batchframe.cli.commands` (jobs) and
:mod:`batchframe.cli.serve` (the local batch server); importing :mod:`batchframe.cli` registers
them all.
"""

from __future__ import annotations

import click

from batchframe.cli.session import CommandGroup, install_log_handler

__all__ = ["EPILOG", "main"]

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
