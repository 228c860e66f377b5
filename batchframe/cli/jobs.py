"""The pieces ``batchframe run``, ``submit`` and ``results`` share: the input options, reading
the input file, submitting it, writing results by extension, and short batch summaries.

>>> request = make_request(pathlib.Path("in.csv"), prompt="text", template=None, messages=None,
...                        params=("temperature=0",), no_progress=True, model="grok-4.3")
>>> request.submit_args["temperature"], request.progress
(0, False)
"""

from __future__ import annotations

import contextlib
import pathlib
import shlex
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click
import orjson

from batchframe.cli.session import CLIError, Connection, parse_param, with_options
from batchframe.cli.tables import frame_format, parse_dtype, read_frame, write_frame
from batchframe.client import Client
from batchframe.errors import NotFinishedError
from batchframe.models import Batch

if TYPE_CHECKING:
    import pandas as pd

    from batchframe.frame.job import Job

__all__ = [
    "Request",
    "Written",
    "cancel_summary",
    "counts",
    "input_options",
    "make_request",
    "manifest_folder",
    "parse_dtypes",
    "results_command",
    "submit_file",
    "write_results",
]

_F = TypeVar("_F", bound=Callable[..., Any])


def input_options(command: _F) -> _F:
    """INPUT and the encoding options shared by ``run`` and ``submit``."""
    options = [
        click.argument(
            "input_path",
            metavar="INPUT",
            type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
        ),
        click.option("--prompt", metavar="COL", help="Column whose text is the user message."),
        click.option(
            "--template",
            metavar="STR",
            help='str.format template over columns, e.g. "Review: {title}\\n{text}".',
        ),
        click.option(
            "--messages",
            metavar="COL",
            help="Column of chat message lists (JSON text in CSV files).",
        ),
        click.option("--model", required=True, help="Model name, e.g. grok-4.3."),
        click.option("--system", metavar="TEXT", help="System message sent before each prompt."),
        click.option(
            "--id-column",
            metavar="COL",
            help="Column of unique request IDs [default: the row number].",
        ),
        click.option(
            "--name",
            help="Batch name; rerunning with the same name and data reattaches "
            "[default: derived from the data and settings].",
        ),
        click.option(
            "--param",
            "params",
            multiple=True,
            metavar="KEY=VALUE",
            help="A chat-completion field, repeatable; the value is JSON when it parses "
            "(temperature=0.2, stop='[\"a\"]'), else text. Names are checked against the "
            "API's fields before anything is sent.",
        ),
        click.option(
            "--extra-body",
            "extra_body",
            multiple=True,
            metavar="KEY=VALUE",
            help="A field batchframe does not know yet, sent unchecked in every request body "
            "(repeatable; the value as for --param).",
        ),
        click.option(
            "--dtype",
            "dtypes",
            multiple=True,
            metavar="COL=TYPE",
            help="Read CSV column COL as int or float, repeatable (for a template's format "
            "spec, {price:.2f}). CSV cells are otherwise text as written; only empty cells "
            "are null.",
        ),
        click.option(
            "--on-null",
            type=click.Choice(["error", "skip"]),
            default="error",
            show_default=True,
            help="What to do with a row whose prompt, or any field its template names, is "
            "empty: stop with an error naming the rows, or leave those rows out.",
        ),
        click.option("--no-progress", is_flag=True, help="No progress bars."),
    ]
    return with_options(command, options)


#: ``bf.submit`` arguments that ``--param`` must not set (they have options, or no CLI meaning).
_RESERVED = frozenset(
    {
        "prompt",
        "template",
        "messages",
        "response_model",
        "client",
        "progress",
        "manifest_dir",
        "extra_body",
    }
)


@dataclass(frozen=True)
class Request:
    """A checked ``run``/``submit`` invocation: the file and the ``bf.submit`` arguments."""

    input_path: pathlib.Path
    submit_args: dict[str, Any]
    progress: bool
    dtypes: dict[str, str] = field(default_factory=dict)


def submit_file(request: Request, client: Client, manifest_dir: str | None) -> tuple[Job, int]:
    """Read the input file and submit it; return the job and the number of input rows."""
    from batchframe.frame.submit import submit

    frame = read_frame(request.input_path, request.dtypes)
    column = request.submit_args.get("messages")
    if column is not None:
        frame = _decode_messages(frame, column)
    job = submit(
        frame,
        client=client,
        progress=request.progress,
        manifest_dir=manifest_dir,
        **request.submit_args,
    )
    return job, len(frame)


def _decode_messages(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Message lists stored as JSON text (as CSV must) become lists; other values pass through."""
    import pandas as pd

    if column not in frame.columns:
        return frame  # submit names the missing column
    values = frame[column]
    if not any(isinstance(v, str) for v in values):
        return frame
    decoded: list[Any] = []
    for position, value in enumerate(values):
        try:
            decoded.append(orjson.loads(value) if isinstance(value, str) else value)
        except orjson.JSONDecodeError:
            raise ValueError(
                f"--messages column {column!r}, row {position}: not a JSON list of messages"
            ) from None
    frame = frame.copy()
    frame[column] = pd.Series(decoded, index=frame.index, dtype=object)
    return frame


def make_request(
    input_path: pathlib.Path,
    prompt: str | None,
    template: str | None,
    messages: str | None,
    params: tuple[str, ...],
    no_progress: bool,
    dtypes: tuple[str, ...] = (),
    extra_body: tuple[str, ...] = (),
    **options: Any,
) -> Request:
    """Check the input options of ``run``/``submit`` and gather the arguments of ``bf.submit``."""
    given = [
        flag
        for flag, value in (
            ("--prompt", prompt),
            ("--template", template),
            ("--messages", messages),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise CLIError(
            "Give exactly one of --prompt COL, --template STR or --messages COL"
            + (f" (got {' and '.join(given)})." if given else ".")
        )
    extra = dict(parse_param(p) for p in params)
    clash = sorted(set(extra) & {*_RESERVED, *options})
    if clash:
        raise CLIError(f"--param {clash[0]}=... is not a chat-completion field this command takes.")
    source = {"prompt": prompt, "template": template, "messages": messages}
    if extra_body:
        options["extra_body"] = dict(parse_param(p) for p in extra_body)
    return Request(
        input_path=input_path,
        submit_args={**source, **options, **extra},
        progress=not no_progress,
        dtypes=parse_dtypes(dtypes),
    )


def parse_dtypes(options: tuple[str, ...]) -> dict[str, str]:
    """The ``--dtype COL=TYPE`` options as column -> type (a column given twice is an error)."""
    dtypes: dict[str, str] = {}
    for option in options:
        column, kind = parse_dtype(option)
        if dtypes.get(column, kind) != kind:
            raise CLIError(f"--dtype {column}= is given twice ({dtypes[column]} and {kind}).")
        dtypes[column] = kind
    return dtypes


@contextlib.contextmanager
def manifest_folder(conn: Connection) -> Iterator[str | None]:
    """An in-memory local server forgets its batches, so its manifests go to a temp folder."""
    if conn.is_local and conn.local_db is None:
        with tempfile.TemporaryDirectory(prefix="batchframe-") as folder:
            yield folder
    else:
        yield None


@dataclass(frozen=True)
class Written:
    """A results file and the total ``cost_usd`` of its rows."""

    path: pathlib.Path
    cost_usd: float


def write_results(job: Job, output: pathlib.Path, *, partial: bool = False) -> Written:
    """Write the job's results to ``output`` in the format its extension names.

    Parquet is streamed page by page by the job; CSV and JSON Lines go through one DataFrame.
    Unless ``partial``, a batch with pending requests is a ``NotFinishedError`` (exit 4).
    """
    if not partial:
        batch = job.refresh()
        if not batch.is_done:
            raise NotFinishedError(
                f"Batch {batch.batch_id} is not finished ({batch.num_pending} of "
                f"{batch.num_requests} requests pending): run `batchframe wait "
                f"{batch.batch_id}` first, or pass --partial.",
                batch,
            )
    if frame_format(output) == "parquet":
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        output.parent.mkdir(parents=True, exist_ok=True)
        path = job.to_parquet(output)
        cost = pc.sum(pq.read_table(path, columns=["cost_usd"]).column(0)).as_py()
        return Written(path, float(cost or 0.0))
    frame = job.results(partial=True)
    return Written(write_frame(frame, output), float(frame["cost_usd"].sum()))


def results_command(batch_id: str, request: Request, output: pathlib.Path) -> str:
    """The ``batchframe results`` command line that fetches a run's results later."""
    words = ["batchframe", "results", batch_id, "--input", str(request.input_path)]
    id_column = request.submit_args.get("id_column")
    if id_column is not None:
        words += ["--id-column", id_column]
    for column, kind in request.dtypes.items():
        words += ["--dtype", f"{column}={kind}"]
    return shlex.join([*words, "-o", str(output)])


def counts(batch: Batch) -> str:
    """``"3 succeeded, 1 failed"`` (cancelled and pending only when there are some)."""
    parts = [f"{batch.num_success} succeeded", f"{batch.num_error} failed"]
    if batch.num_cancelled:
        parts.append(f"{batch.num_cancelled} cancelled")
    if batch.num_pending:
        parts.append(f"{batch.num_pending} pending")
    return ", ".join(parts)


def cancel_summary(before: Batch, after: Batch) -> str:
    """What ``batchframe cancel`` did, from the batch just before and just after the call."""
    cancelled = after.num_cancelled - before.num_cancelled
    if cancelled > 0:
        noun = "request" if cancelled == 1 else "requests"
        return f"cancelled {cancelled} pending {noun} of {after.batch_id}: {counts(after)}"
    if before.num_pending == 0:
        return f"nothing was pending in {after.batch_id}, so nothing was cancelled: {counts(after)}"
    # The API may cancel in the background: what is pending now ends cancelled (or finishes).
    return f"cancel requested for {after.batch_id}: {counts(after)}"
