"""Messages whose hints say what to change in the caller's own terms: Python or the command line.

A hint names an argument, a method or a command. The same error reaches a notebook user, who
passes ``on_null='skip'`` and calls ``job.wait()``, and a shell user, who passes ``--on-null skip``
and runs ``batchframe wait ID``. A :class:`Message` is a ``str`` (its Python wording, so an
exception built from it reads, compares and pickles like any other) that also keeps its
:class:`Term` s, and :func:`render` words it for either audience. The command line sets the
style once, at its one boundary (:func:`hint_style`), and renders every error and warning it
shows with it; nothing else needs to know who is reading.

>>> m = say("fill them, or pass ", arg("on_null", "skip"))
>>> str(m), render(m, CLI)
("fill them, or pass on_null='skip'", 'fill them, or pass --on-null skip')
>>> render(say("run ", Term("job.wait()", "`batchframe wait {id}`"), id="b1"), CLI)
'run `batchframe wait b1`'
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "CLI",
    "NEW_NAME",
    "PYTHON",
    "RERUN",
    "Message",
    "Style",
    "Term",
    "arg",
    "attach_hint",
    "current_style",
    "hint_style",
    "id_column_named",
    "message_of",
    "render",
    "say",
]

Style = Literal["python", "cli"]
PYTHON: Style = "python"
CLI: Style = "cli"

_STYLE: contextvars.ContextVar[Style] = contextvars.ContextVar("batchframe_hints", default=PYTHON)
#: Values every message may name, set by the command line: ``{command}``, the verb running.
_CONTEXT: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "batchframe_hint_values", default=None
)
_DEFAULT_VALUES = {"command": "submit"}
_UNSET: Any = object()


@dataclass(frozen=True)
class Term:
    """One thing to name, as Python code says it and as the command line says it.

    Either side may hold ``{field}`` s filled from the message's values and the command line's
    (``{command}``: the verb running); other braces are kept as they are. An empty side leaves
    the term out for that audience.
    """

    python: str
    cli: str

    def text(self, style: Style) -> str:
        return self.cli if style == CLI else self.python


def arg(name: str, value: Any = _UNSET, *, flag: str | None = None) -> Term:
    """An argument: ``name=value`` (``value`` as Python repr) or ``--flag value``.

    ``flag`` defaults to ``--`` + ``name`` with dashes; ``True`` is the bare flag.

    >>> [arg(*a).text(s) for a in (("name",), ("partial", True)) for s in (PYTHON, CLI)]
    ['name=', '--name', 'partial=True', '--partial']
    """
    option = flag or "--" + name.replace("_", "-")
    if value is _UNSET:
        return Term(f"{name}=", option)
    if value is True:
        return Term(f"{name}=True", option)
    return Term(f"{name}={value!r}", f"{option} {value}")


class Message(str):
    """A message in its Python wording that keeps its terms for :func:`render`."""

    parts: tuple[str | Term, ...]
    values: tuple[tuple[str, str], ...]

    def __new__(
        cls, parts: tuple[str | Term, ...], values: tuple[tuple[str, str], ...] = ()
    ) -> Message:
        self = super().__new__(cls, _join(parts, dict(values), PYTHON))
        self.parts, self.values = parts, values
        return self

    def __getnewargs__(self) -> tuple[Any, ...]:
        return (self.parts, self.values)

    def words(self, style: Style) -> str:
        """The message worded for ``style``."""
        return _join(self.parts, dict(self.values), style)

    def map(self, change: Callable[[str], str]) -> Message:
        """The same message with ``change`` applied to its plain text (not to its terms)."""
        parts = tuple(change(p) if isinstance(p, str) else p for p in self.parts)
        return Message(parts, self.values)

    def __add__(self, other: str) -> Message:
        tail = other.parts if isinstance(other, Message) else (str(other),)
        values = self.values + (other.values if isinstance(other, Message) else ())
        return Message((*self.parts, *tail), values)

    def __radd__(self, other: str) -> Message:
        return Message((str(other), *self.parts), self.values)


def _join(parts: tuple[str | Term, ...], values: dict[str, str], style: Style) -> str:
    known = {**_DEFAULT_VALUES, **(_CONTEXT.get() or {}), **values}
    out = []
    for part in parts:
        if isinstance(part, Term):
            text = part.text(style)
            for key, value in known.items():
                text = text.replace("{" + key + "}", value)
            out.append(text)
        else:
            out.append(part)
    return "".join(out)


#: Hints that many messages give.
NEW_NAME = arg("name")
RERUN = Term(
    "Rerun the same submit (same input, arguments and name)",
    "Run the same `batchframe {command} ...` again (same INPUT, options and --name)",
)


def attach_hint(target: str, data: bool = False) -> Term:
    """How to read a job again: ``bf.attach(...)`` / ``batchframe results ...``."""
    frame = ", df" if data else ""
    cli_input = " --input INPUT" if data else ""
    return Term(
        f"bf.attach({target!r}{frame})", f"`batchframe results {target}{cli_input} -o FILE`"
    )


def say(*parts: str | Term, **values: Any) -> Message:
    """A :class:`Message` of plain text and terms (a Message among them keeps its own);
    ``values`` fill the terms' ``{fields}``."""
    flat: list[str | Term] = []
    more: list[tuple[str, str]] = []
    for part in parts:
        if isinstance(part, Message):
            flat.extend(part.parts)
            more.extend(part.values)
        else:
            flat.append(part)
    return Message(tuple(flat), (*more, *((k, str(v)) for k, v in values.items())))


def id_column_named(column: Any) -> Message:
    """``id_column 'k'`` / ``--id-column k``: where request IDs come from, for a message."""
    return say(Term(f"id_column {column!r}", f"--id-column {column}"))


def current_style() -> Style:
    """``cli`` inside a ``batchframe`` command, else ``python``."""
    return _STYLE.get()


@contextlib.contextmanager
def hint_style(style: Style, **values: str) -> Iterator[dict[str, str]]:
    """Word every message rendered inside the block for ``style`` (the CLI's boundary);
    ``values`` fill the terms' fields (``command="run"``), and so does what the block adds to
    the dict it gets."""
    token = _STYLE.set(style)
    known = {**(_CONTEXT.get() or {}), **values}
    more = _CONTEXT.set(known)
    try:
        yield known
    finally:
        _CONTEXT.reset(more)
        _STYLE.reset(token)


def render(text: str, style: Style | None = None) -> str:
    """``text`` worded for ``style`` (default: :func:`current_style`) when it is a Message."""
    if isinstance(text, Message):
        return text.words(style or current_style())
    return str(text)


def message_of(exc: BaseException, style: Style | None = None) -> str:
    """An exception's text worded for ``style``: its Message's, else ``str(exc)``."""
    args = exc.args
    if len(args) == 1 and isinstance(args[0], Message):
        return render(args[0], style)
    message = getattr(exc, "message", None)
    if isinstance(message, Message) and str(exc) == str(message):
        return render(message, style)
    return str(exc)
