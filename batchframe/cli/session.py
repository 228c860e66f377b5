"""What every ``batchframe`` command shares: the connection options, the client (or a local
server started in-process), ``--param`` parsing, logging to stderr, and the one mapping from
exceptions to short messages and exit codes.

>>> parse_param("temperature=0.2"), parse_param('stop=["a"]'), parse_param("user=ana")
(('temperature', 0.2), ('stop', ['a']), ('user', 'ana'))
>>> exit_code_for(ValueError("missing column 'text'")), exit_code_for(KeyError("bug"))
(2, 1)
"""

from __future__ import annotations

import contextlib
import functools
import logging
import pathlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import click
import orjson

from batchframe._config import read_env
from batchframe._hints import CLI, hint_style, message_of
from batchframe.client import Client, check_api_key
from batchframe.errors import (
    APIError,
    BatchframeError,
    CostLimitError,
    IncompleteResultsError,
    JoinError,
    ManifestConflictError,
    NotFinishedError,
    WaitTimeoutError,
    redact,
)

__all__ = [
    "EXIT_API",
    "EXIT_CODES",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "CLIError",
    "CommandGroup",
    "Connection",
    "connect",
    "connection_options",
    "exit_code_for",
    "install_log_handler",
    "one_line_message",
    "parse_param",
    "with_options",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_API = 3
EXIT_TIMEOUT = 4
EXIT_INTERRUPTED = 130

#: The exit code of every error batchframe raises on purpose, the first matching class winning.
#: Only these, click's own usage errors and input ``ValueError``s (problems found before anything
#: is sent, as the library reports them) get a documented code; anything else is a bug: exit 1.
EXIT_CODES: tuple[tuple[type[BatchframeError], int], ...] = (
    (WaitTimeoutError, EXIT_TIMEOUT),  # the batch keeps running: wait again later
    (NotFinishedError, EXIT_TIMEOUT),
    (ManifestConflictError, EXIT_USAGE),  # another frame under a known --name
    (CostLimitError, EXIT_USAGE),  # the estimate is over --max-cost-usd: nothing was sent
    (APIError, EXIT_API),  # no connection, an error status, an unusable reply, an upload cut short
    (JoinError, EXIT_API),  # the server's results do not add up to its requests
    (IncompleteResultsError, EXIT_API),
)

#: The throwaway key sent to an in-process local server (it accepts any key).
LOCAL_API_KEY = "local-batchframe"

_F = TypeVar("_F", bound=Callable[..., Any])


class CLIError(click.ClickException):
    """A short ``Error: ...`` line on stderr and the given exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it a ClassVar


@dataclass(frozen=True)
class Connection:
    """Where a command sends its calls: an API (key, URL) or a local server started here."""

    local: bool = False
    local_db: pathlib.Path | None = None
    api_key: str | None = None
    base_url: str | None = None

    @property
    def is_local(self) -> bool:
        return self.local or self.local_db is not None


def connection_options(command: _F) -> _F:
    """Add ``--local``, ``--local-db``, ``--api-key``, ``--base-url``; pass them as ``conn``."""

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        conn = Connection(
            local=kwargs.pop("local"),
            local_db=kwargs.pop("local_db"),
            api_key=kwargs.pop("api_key"),
            base_url=kwargs.pop("base_url"),
        )
        return command(conn=conn, **kwargs)

    options = [
        click.option(
            "--local",
            is_flag=True,
            help="Use a local batch server started in this process: no key, no network "
            "(in memory; see --local-db).",
        ),
        click.option(
            "--local-db",
            type=click.Path(dir_okay=False, path_type=pathlib.Path),
            help="SQLite file for the local server (implies --local), so later commands "
            "can see the same batches.",
        ),
        click.option("--api-key", metavar="KEY", help="API key [default: $XAI_API_KEY]."),
        click.option(
            "--base-url",
            metavar="URL",
            help="API base URL [default: $XAI_BASE_URL, else https://api.x.ai/v1].",
        ),
    ]
    return with_options(wrapper, options)  # type: ignore[return-value]


def with_options(command: _F, options: list[Callable[[Any], Any]]) -> _F:
    """``command`` decorated with ``options``, listed in the order ``--help`` shows them."""
    for option in reversed(options):
        command = option(command)
    return command


@contextlib.contextmanager
def connect(conn: Connection, *, need_db: bool = False) -> Iterator[Client]:
    """A :class:`Client` for ``conn``; with ``--local`` a server runs for the duration.

    ``need_db`` refuses ``--local`` without ``--local-db`` for commands that only make sense
    against batches that outlive the process (an in-memory server starts empty).
    """
    if conn.is_local:
        if need_db and conn.local_db is None:
            raise CLIError(
                "--local needs --local-db PATH here: an in-memory local server starts empty "
                "and forgets its batches when the command ends."
            )
        from batchframe.server.runner import serve  # the server loads only when asked for

        db = str(conn.local_db) if conn.local_db is not None else ":memory:"
        if conn.local_db is not None:
            conn.local_db.parent.mkdir(parents=True, exist_ok=True)
        with (
            serve("127.0.0.1", 0, db=db) as handle,
            Client(api_key=LOCAL_API_KEY, base_url=handle.base_url) as client,
        ):
            yield client
        return
    key = conn.api_key or read_env().api_key
    if not key:
        raise CLIError(
            "No API key: set XAI_API_KEY or pass --api-key, or add --local to run against "
            "a local batch server (no key, no network)."
        )
    check_api_key(key, "--api-key" if conn.api_key else "XAI_API_KEY")
    with Client(api_key=key, base_url=conn.base_url) as client:
        yield client


def parse_param(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as JSON when it parses, else kept as a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise click.BadParameter(f"{text!r} is not key=value (for example temperature=0.2)")
    try:
        value: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = raw
    return key, value


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an exception that escaped a command (see ``batchframe --help``).

    :data:`EXIT_CODES` for batchframe's own errors, 2 for an input ``ValueError``, 130 for
    Ctrl-C, and 1 for everything else: a ``KeyError`` or ``LookupError`` is a bug, not bad input.
    """
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    if isinstance(exc, ValueError) and not isinstance(exc, BatchframeError):
        return EXIT_USAGE
    return EXIT_FAILURE


def one_line_message(exc: BaseException, *secrets: str | None) -> str:
    """At most two short lines describing ``exc`` in command-line terms, with any key scrubbed."""
    text = redact(message_of(exc, CLI).strip(), *secrets) or type(exc).__name__
    if isinstance(exc, KeyError):  # str(KeyError("x")) is "'x'"
        text = text.strip("'\"")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    shown = [line if len(line) <= 400 else line[:397] + "..." for line in lines[:2]]
    if len(lines) > 2:
        shown[-1] += " ..."
    if exit_code_for(exc) == EXIT_FAILURE and not isinstance(exc, OSError):  # a bug, likely
        shown[0] = f"{type(exc).__name__}: {shown[0]} (run with --debug for the traceback)"
    return "\n".join(shown)


class _EchoHandler(logging.Handler):
    """Log records to whatever stderr is now (click's test runner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:  # pragma: no cover - logging must never break a command
            self.handleError(record)


def install_log_handler(debug: bool) -> None:
    """Send batchframe's warnings (retries, ...) to stderr; everything with ``--debug``."""
    logger = logging.getLogger("batchframe")
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    if not any(isinstance(h, _EchoHandler) for h in logger.handlers):
        handler = _EchoHandler()
        handler.setFormatter(logging.Formatter("batchframe: %(message)s"))
        logger.addHandler(handler)


class CommandGroup(click.Group):
    """A click group that turns every escaping exception into a short message and an exit code.

    No traceback unless the group's ``--debug`` flag is set; Ctrl-C exits 130. Inside a command,
    hints and warnings name flags and commands (``--on-null skip``), not Python arguments.
    """

    def invoke(self, ctx: click.Context) -> Any:
        with hint_style(CLI) as values:
            ctx.meta["batchframe.hint_values"] = values
            return self._invoke(ctx)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        values = ctx.meta.get("batchframe.hint_values")
        if values is not None and name:
            values["command"] = name  # "run the same `batchframe run ...` again"
        return name, command, rest

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            if ctx.params.get("debug"):
                raise
            if isinstance(exc, KeyboardInterrupt):
                click.echo("Interrupted.", err=True)
                raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
            raise CLIError(one_line_message(exc), exit_code_for(exc)) from None
