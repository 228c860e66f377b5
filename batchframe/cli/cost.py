"""Cost on the command line: ``batchframe estimate``, ``batchframe cache info|clear``, and the
``--max-cost-usd``, ``--no-dedup``, ``--no-cache`` options of ``run`` and ``submit``.
"""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Callable
from typing import Any, TypeVar

import click
import orjson

from batchframe.cli.app import main
from batchframe.cli.jobs import input_options, make_request
from batchframe.cli.session import CLIError, Connection, connect, connection_options, with_options
from batchframe.cli.tables import read_frame
from batchframe.errors import CostLimitError

__all__ = ["cache_group", "cost_options", "estimate_command"]

_F = TypeVar("_F", bound=Callable[..., Any])

_CACHE_OPTION = click.option(
    "--cache",
    "cache_path",
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    help="Result cache file [default: $BATCHFRAME_HOME/cache/results.sqlite, else the user's "
    "cache directory].",
)


def _reuse_options(command: _F) -> _F:
    options = [
        click.option(
            "--no-dedup",
            is_flag=True,
            help="Send identical requests once each time they appear (default: once per job).",
        ),
        click.option(
            "--no-cache",
            is_flag=True,
            help="Neither read nor fill the result cache (default: answers already cached are "
            "not sent again).",
        ),
        _CACHE_OPTION,
    ]
    return with_options(command, options)


def _reuse_args(options: dict[str, Any]) -> None:
    """``--no-dedup``/``--no-cache``/``--cache`` as ``bf.submit``'s ``dedup`` and ``cache``."""
    no_cache, path = options.pop("no_cache"), options.pop("cache_path")
    if no_cache and path is not None:
        raise CLIError("Give --no-cache or --cache PATH, not both.")
    options["dedup"] = not options.pop("no_dedup")
    options["cache"] = False if no_cache else path


def cost_options(command: _F) -> _F:
    """Add ``--max-cost-usd``, ``--no-dedup``, ``--no-cache``, ``--cache`` to ``run``/``submit``;
    a refusal over the cap says which flag to raise."""

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        _reuse_args(kwargs)
        cap = kwargs.get("max_cost_usd")
        try:
            return command(**kwargs)
        except CostLimitError as exc:
            if exc.estimate is None or exc.estimate.cost_usd is None or cap is None:
                raise
            from batchframe.frame.estimate import cap_message

            flag = "--max-cost-usd {}"
            raise CostLimitError(
                cap_message(exc.estimate, cap, flag, "batchframe estimate"),
                estimate=exc.estimate,
                cap=cap,
            ) from None

    option = click.option(
        "--max-cost-usd",
        type=float,
        metavar="USD",
        help="Refuse, before any batch is created, when the estimated cost is above USD.",
    )
    return option(_reuse_options(wrapper))  # type: ignore[return-value]


ESTIMATE_HELP = """Estimate what submitting INPUT would send and cost; nothing is sent.

Takes the same input options as `batchframe submit`. Prompt tokens come from the server's
tokenizer (on a sample of --sample requests for large inputs), prices from its model list, the
batch discount as the API documents it; offline, documented heuristics, marked as such.

\b
Example:
  batchframe estimate examples/reviews.csv --model grok-4.3 --local \\
    --template "Sentiment: {text}" --param max_tokens=20
"""


@main.command(name="estimate", help=ESTIMATE_HELP)
@input_options
@click.option(
    "--completion-tokens",
    type=int,
    default=256,
    show_default=True,
    help="Expected answer tokens per request (capped by max_tokens).",
)
@click.option("--reasoning-tokens", type=int, help="Reasoning tokens per request (a bound).")
@click.option(
    "--sample", type=int, default=1000, show_default=True, help="Requests tokenized at most."
)
@click.option("--batch-discount", type=float, help="The batch discount, a fraction (0.2 = 20%).")
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as one JSON object.")
@_reuse_options
@connection_options
def estimate_command(conn: Connection, as_json: bool, **options: Any) -> None:
    from batchframe.frame.estimate import estimate

    _reuse_args(options)
    figures = {
        k: options.pop(k)
        for k in ("completion_tokens", "reasoning_tokens", "sample", "batch_discount")
    }
    reuse = {"dedup": options.pop("dedup"), "cache": options.pop("cache")}
    request = make_request(**options)
    args = {k: v for k, v in request.submit_args.items() if k != "name"}
    frame = read_frame(request.input_path, request.dtypes)
    with connect(conn) as client:
        est = estimate(frame, client=client, **reuse, **figures, **args)
    if as_json:
        data = {k: getattr(est, k) for k in est.__dataclass_fields__}
        click.echo(orjson.dumps(data).decode())
    else:
        click.echo(str(est))


CACHE_HELP = """The result cache: succeeded answers kept by request, so no job pays twice for one.

`run` and `submit` read it (requests it answers are not sent) and `results` fills it; pass
--no-cache to run without it. `cache info` prints the file, its entries and size on disk,
`cache clear` empties it.

\b
Example:
  batchframe cache info
  batchframe cache clear --cache ./my-cache.sqlite
"""


@main.group(name="cache", help=CACHE_HELP)
def cache_group() -> None:
    pass


@cache_group.command(name="info")
@_CACHE_OPTION
def cache_info_command(cache_path: pathlib.Path | None) -> None:
    """Print the cache file's path, entries and size on disk."""
    from batchframe.frame.cache import cache_info

    info = cache_info(cache_path)
    click.echo(f"path      {info.path}")
    click.echo(f"entries   {info.entries:,}")
    click.echo(f"size      {info.size_bytes:,} bytes")


@cache_group.command(name="clear")
@_CACHE_OPTION
def cache_clear_command(cache_path: pathlib.Path | None) -> None:
    """Remove every cached answer (later jobs send those requests again)."""
    from batchframe.frame.cache import clear_cache

    removed = clear_cache(cache_path)
    click.echo(f"removed {removed:,} cached answers", err=True)
