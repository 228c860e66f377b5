"""``RequestSpec``: what to send for each row, validated once, with its fingerprint and JSON form.

One frozen object carries the encoding arguments (prompt / template / messages, system, model,
params, response_model, on_null, id_column) from ``to_requests``, ``submit``, ``attach``,
``retry_failed`` and the manifest, instead of six signatures threading them as keywords. Every
check that needs no data runs when the spec is built; checks against a source's columns run in
:meth:`RequestSpec.check_columns`.

>>> spec = RequestSpec.build(prompt="text", model="grok-4.3", temperature=0)
>>> spec.mode, spec.params_json
('prompt', b',"temperature":0')
>>> RequestSpec.from_json(spec.to_json()) == spec
True
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import orjson

from batchframe._config import MAX_REQUEST_BYTES
from batchframe._hints import Term, say
from batchframe.frame.fields import CHAT_COMPLETION_FIELDS, check_fields, check_model
from batchframe.frame.fields import FORBIDDEN as _FORBIDDEN

if TYPE_CHECKING:
    from batchframe.client import Client

__all__ = ["CHAT_COMPLETION_FIELDS", "SPEC_FIELDS", "Fingerprinter", "RequestSpec"]

#: The keyword arguments of ``to_requests``/``submit`` that are spec fields, not params.
SPEC_FIELDS = (
    "prompt",
    "template",
    "messages",
    "system",
    "model",
    "id_column",
    "response_model",
    "on_null",
    "max_request_bytes",
    "extra_body",
)
_VERSION = 1
_FINGERPRINT_VERSION = b"batchframe-requests-2"


def _column_list(names: Sequence[Any]) -> str:
    return repr(list(names)) if len(names) <= 20 else repr(list(names)[:20])[:-1] + ", ...]"


@dataclass(frozen=True)
class RequestSpec:
    """What to send: one chat-completion request per row, built from named columns.

    Build it with :meth:`build` (the keyword arguments of :func:`~batchframe.to_requests`);
    constructing it directly validates the same way. ``params`` are the chat-completion fields
    sent in every body, in the order given (``None`` values are left out); their names must be
    chat-completion fields the API reference lists. ``extra_body`` holds fields batchframe does
    not know yet, merged into every body after the params, unchecked.
    """

    model: str
    prompt: Hashable | None = None
    template: str | None = None
    messages: Hashable | None = None
    system: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    response_model: Any = None
    on_null: str = "error"
    id_column: Hashable | None = None
    max_request_bytes: int = MAX_REQUEST_BYTES
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    #: False for a spec read back from a manifest: what was sent is not checked again, so a job
    #: submitted before the field names were checked can still be read.
    check_names: InitVar[bool] = True

    @classmethod
    def build(
        cls,
        *,
        prompt: Hashable | None = None,
        template: str | None = None,
        messages: Hashable | None = None,
        system: str | None = None,
        model: str,
        id_column: Hashable | None = None,
        response_model: Any = None,
        on_null: str = "error",
        max_request_bytes: int = MAX_REQUEST_BYTES,
        extra_body: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> RequestSpec:
        """The spec for these ``to_requests`` arguments (a ValueError says what is wrong)."""
        return cls(
            model=model,
            prompt=prompt,
            template=template,
            messages=messages,
            system=system,
            params=params,
            response_model=response_model,
            on_null=on_null,
            id_column=id_column,
            max_request_bytes=max_request_bytes,
            extra_body=extra_body if extra_body is not None else {},
        )

    def __post_init__(self, check_names: bool) -> None:
        given = [
            name
            for name, value in (
                ("prompt", self.prompt),
                ("template", self.template),
                ("messages", self.messages),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "pass exactly one of prompt= (a text column), template= (a str.format string "
                f"over columns) or messages= (a column of message lists); got {given or 'none'}"
            )
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(
                f"model must be a non-empty model name such as 'grok-4.3', got {self.model!r}"
            )
        if self.on_null not in ("error", "skip"):
            raise ValueError(f"on_null must be 'error' or 'skip', got {self.on_null!r}")
        if self.system is not None and not isinstance(self.system, str):
            raise ValueError(f"system must be a str, got {type(self.system).__name__}")
        limit = self.max_request_bytes
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"max_request_bytes must be a positive integer, got {limit!r}")
        if self.template is not None:
            from batchframe.frame.template import parse_template

            parse_template(self.template)  # malformed or positional fields fail here
        object.__setattr__(self, "params", dict(self.params))
        params = self.params if check_names else {}
        object.__setattr__(self, "extra_body", check_fields(params, self.extra_body))
        self._check_response_model()
        _ = self.params_json  # unknown-to-JSON values fail now, not at the first row

    def _check_response_model(self) -> None:
        if self.response_model is None:
            return
        from batchframe.frame.decode import RESULT_COLUMNS
        from batchframe.frame.structured import response_format_for

        response_format_for(self.response_model)  # not a pydantic model: a ValueError
        if self.params.get("response_format") is not None:
            raise ValueError("pass either response_model= or response_format=, not both")
        taken = {*RESULT_COLUMNS, "parse_error"}
        clash = [f for f in self.response_model.model_fields if f in taken]
        if clash:
            raise ValueError(
                f"response_model fields {clash} have the names of result columns; rename them "
                "in the model (for example with a suffix)"
            )

    # -- derived ---------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """``prompt``, ``template`` or ``messages``."""
        if self.prompt is not None:
            return "prompt"
        return "template" if self.template is not None else "messages"

    @property
    def text_column(self) -> Hashable | None:
        """The column whose null cells are null prompts (``prompt`` or ``messages``)."""
        return self.prompt if self.prompt is not None else self.messages

    @property
    def null_columns(self) -> list[Any]:
        """The columns whose null cells leave a row nothing to send: the prompt or messages
        column, or every field a template names (see ``on_null``)."""
        if self.template is not None:
            return list(self.template_columns)
        return [self.text_column]

    @cached_property
    def template_columns(self) -> list[str]:
        """The columns a template reads, in order of first use."""
        if self.template is None:
            return []
        from batchframe.frame.template import template_columns

        return template_columns(self.template)

    def columns(self) -> list[Any]:
        """Every input column the requests are built from (the ID column included)."""
        names: list[Any] = []
        for name in (self.prompt, self.messages, *self.template_columns, self.id_column):
            if name is not None and name not in names:
                names.append(name)
        return names

    @cached_property
    def params_json(self) -> bytes:
        """The params as JSON members, each preceded by a comma (``b""`` when none)."""
        bad = [key for key in _FORBIDDEN if key in self.params]
        if bad:
            raise ValueError(
                say(
                    f"{', '.join(bad)} cannot be passed as a request parameter: batchframe sets "
                    "model and messages itself (",
                    Term(
                        "use model=, prompt=/template=/messages=",
                        "--model, --prompt/--template/--messages",
                    ),
                    ") and batches never stream",
                )
            )
        params = dict(self.params)
        if self.response_model is not None:
            from batchframe.frame.structured import response_format_for

            params["response_format"] = response_format_for(self.response_model)
        params = {key: value for key, value in params.items() if value is not None}
        params.update(self.extra_body)
        try:
            text = orjson.dumps(params, option=orjson.OPT_SERIALIZE_NUMPY)
        except TypeError as exc:
            raise ValueError(f"request parameters are not JSON-serialisable: {exc}") from None
        return b"," + text[1:-1] if params else b""

    @cached_property
    def fragments(self) -> tuple[bytes, bytes]:
        """The constant JSON around each row's text: (before it, after it).

        An item is ``{"batch_request_id":"<id>` + head + text + tail; for a messages column
        the text is the row's own JSON list, otherwise the escaped body of a JSON string.
        """
        head = b'","batch_request":{"chat_get_completion":{"model":' + orjson.dumps(self.model)
        if self.messages is not None:
            return head + b',"messages":', self.params_json + b"}}}"
        first = (
            orjson.dumps({"role": "system", "content": self.system}) + b"," if self.system else b""
        )
        head += b',"messages":[' + first + b'{"role":"user","content":"'
        return head, b'"}]' + self.params_json + b"}}}"

    # -- checks against a source -----------------------------------------------------------

    def check_columns(self, available: Sequence[Any]) -> None:
        """Raise a ValueError naming any column the spec needs that ``available`` lacks."""
        present = set(available)
        for what, names in (
            (Term("prompt=", "--prompt"), [self.prompt]),
            (Term("messages=", "--messages"), [self.messages]),
            (f"template {self.template!r}", self.template_columns),
            (Term("id_column", "--id-column"), [self.id_column]),
        ):
            missing = [n for n in names if n is not None and n not in present]
            if missing:
                shown = ", ".join(repr(n) for n in missing)
                raise ValueError(
                    say(
                        what,
                        f" names column(s) not in the input: {shown}; "
                        f"available columns: {_column_list(list(available))}",
                    )
                )
        if self.response_model is not None:
            clash = [f for f in self.response_model.model_fields if f in present]
            if clash:
                raise ValueError(
                    f"response_model fields {clash} have the names of input columns, whose "
                    "values the parsed answers would replace; rename the fields in the model "
                    "or the columns"
                )

    def check_model(self, client: Client) -> None:
        """Refuse a model the server does not offer, before anything is sent (a ValueError
        naming the models it lists); a model list that cannot be read is only a warning.
        One call per submit (see :func:`~batchframe.frame.fields.check_model`)."""
        check_model(self.model, client)

    # -- identity --------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any] | None:
        """The spec as plain JSON (what the manifest keeps), or ``None`` if it has no JSON form.

        A ``response_model`` is kept as the ``response_format`` it sends (and its name), so the
        same requests can be rebuilt without the class; column names that are not JSON scalars
        (tuples, objects) leave no JSON form.
        """
        data: dict[str, Any] = {
            "version": _VERSION,
            "model": self.model,
            "prompt": self.prompt,
            "template": self.template,
            "messages": self.messages,
            "system": self.system,
            "params": {k: v for k, v in self.params.items() if v is not None},
            "response_format": None,
            "response_model": None,
            "on_null": self.on_null,
            "id_column": self.id_column,
            "max_request_bytes": self.max_request_bytes,
        }
        if self.extra_body:
            data["extra_body"] = dict(self.extra_body)
        if self.response_model is not None:
            from batchframe.frame.structured import response_format_for

            data["response_format"] = response_format_for(self.response_model)
            model = self.response_model
            data["response_model"] = f"{model.__module__}.{model.__qualname__}"
        try:
            back = orjson.loads(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY))
        except (TypeError, orjson.JSONEncodeError):
            return None
        names = ("prompt", "messages", "id_column")
        if any(back[n] != data[n] or type(back[n]) is not type(data[n]) for n in names):
            return None  # a column name JSON cannot give back as it was
        return dict(back)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, response_model: Any = None) -> RequestSpec:
        """The spec :meth:`to_json` wrote; it builds the same requests.

        Without ``response_model`` a structured spec comes back as its ``response_format``
        parameter (the same request bodies, no parsed columns); with it, the model must give
        the ``response_format`` that was sent.
        """
        params = dict(data.get("params") or {})
        sent_format = data.get("response_format")
        if response_model is not None:
            from batchframe.frame.structured import response_format_for

            if sent_format is not None and response_format_for(response_model) != sent_format:
                raise ValueError(
                    f"response_model {response_model.__name__} does not give the JSON schema "
                    "these requests were sent with; pass the model that was submitted"
                )
        elif sent_format is not None:
            params["response_format"] = sent_format  # last, where response_model put it
        return cls(
            model=data["model"],
            prompt=data.get("prompt"),
            template=data.get("template"),
            messages=data.get("messages"),
            system=data.get("system"),
            params=params,
            response_model=response_model if sent_format is not None else None,
            on_null=data.get("on_null", "error"),
            id_column=data.get("id_column"),
            max_request_bytes=int(data.get("max_request_bytes") or MAX_REQUEST_BYTES),
            extra_body=dict(data.get("extra_body") or {}),
            check_names=False,
        )

    def replace(self, **changes: Any) -> RequestSpec:
        """A copy with spec fields or params changed (a param set to ``None`` is removed).

        >>> RequestSpec.build(prompt="p", model="m").replace(max_tokens=9).params
        {'max_tokens': 9}
        """
        fields = {k: v for k, v in changes.items() if k in SPEC_FIELDS}
        params = {**self.params, **{k: v for k, v in changes.items() if k not in SPEC_FIELDS}}
        if "response_model" in fields and fields["response_model"] is not None:
            params.pop("response_format", None)
        return dataclasses.replace(self, params=params, **fields)

    def fingerprinter(self) -> Fingerprinter:
        """A running digest of the requests this spec builds (see :class:`Fingerprinter`)."""
        return Fingerprinter()


class Fingerprinter:
    """A digest of encoded requests that does not depend on how they were cut into parts.

    It covers every item's bytes (the IDs and bodies sent), their sizes, and the IDs of rows
    left out (``on_null="skip"``): two inputs get the same fingerprint exactly when they send
    the same requests in the same order and skip the same rows.

    >>> a, b, c = Fingerprinter(), Fingerprinter(), Fingerprinter()
    >>> a.update(b"abc", [2, 1], b"")  # the items "ab" and "c" as one part
    >>> b.update(b"ab", [2], b""); b.update(b"c", [1], b"")  # or as two
    >>> c.update(b"abc", [1, 2], b"")  # the items "a" and "bc"
    >>> a.hexdigest() == b.hexdigest() != c.hexdigest()
    True
    """

    def __init__(self) -> None:
        self._items = hashlib.sha256()
        self._sizes = hashlib.sha256()
        self._skipped = hashlib.sha256()

    def update(self, items: bytes | memoryview, sizes: Any, skipped: bytes) -> None:
        """Add a part: its items' bytes back to back, their sizes, the skipped IDs (``\\n``-ended)."""
        import numpy as np

        self._items.update(items)
        self._sizes.update(np.ascontiguousarray(sizes, dtype="<i8").tobytes())
        self._skipped.update(skipped)

    def hexdigest(self) -> str:
        digest = hashlib.sha256(_FINGERPRINT_VERSION)
        for part in (self._items, self._sizes, self._skipped):
            digest.update(part.digest())
        return digest.hexdigest()[:40]
