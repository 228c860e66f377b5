"""What a request may say: the chat-completion fields a param may name, ``extra_body``, and the
models a server offers. The request spec runs these checks, so ``submit``, ``to_requests``,
``retry_failed`` and ``estimate`` refuse the same mistakes before anything is sent.

>>> check_fields({"temperature": 0}, {"new_knob": 1})
{'new_knob': 1}
>>> check_fields({"temprature": 0}, {})
Traceback (most recent call last):
...
ValueError: 'temprature' is not a chat-completion field (did you mean 'temperature'?): nothing was sent. To send a field batchframe does not know yet, pass it in extra_body={'temprature': ...} instead.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from batchframe._hints import Term, arg, say

if TYPE_CHECKING:
    from batchframe.client import Client

__all__ = ["CHAT_COMPLETION_FIELDS", "FORBIDDEN", "check_fields", "check_model"]

logger = logging.getLogger("batchframe")

#: Parameters batchframe sets itself, or that a batch cannot use.
FORBIDDEN = ("stream", "stream_options", "messages", "model")
#: The ``chat_get_completion`` fields the API reference lists (reference section 4, source S1);
#: a param outside them is refused before anything is sent (``extra_body=`` passes new ones).
CHAT_COMPLETION_FIELDS = frozenset(
    {
        *FORBIDDEN,
        "deferred",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "n",
        "parallel_tool_calls",
        "presence_penalty",
        "reasoning_effort",
        "response_format",
        "search_parameters",
        "seed",
        "stop",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "web_search_options",
    }
)


def check_fields(params: Mapping[str, Any], extra_body: Any) -> dict[str, Any]:
    """Refuse a param that is no chat-completion field (suggesting the close match); return
    ``extra_body`` as a dict, its fields unchecked but not repeating a param or a field
    batchframe sets."""
    unknown = [k for k, v in params.items() if v is not None and k not in CHAT_COMPLETION_FIELDS]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(str(name), sorted(CHAT_COMPLETION_FIELDS), n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            say(
                f"{name!r} is not a chat-completion field{guess}: nothing was sent. To send "
                "a field batchframe does not know yet, pass it in ",
                Term(f"extra_body={{{name!r}: ...}}", f"--extra-body {name}=VALUE"),
                " instead.",
            )
        )
    if not isinstance(extra_body, Mapping) or not all(isinstance(k, str) for k in extra_body):
        raise ValueError(f"extra_body must be a dict of field names, got {extra_body!r}")
    taken = [k for k in extra_body if k in params or k in FORBIDDEN]
    if taken:
        raise ValueError(
            f"extra_body field {taken[0]!r} is also a request parameter or set by batchframe "
            "itself; pass it once"
        )
    return dict(extra_body)


def check_model(model: str, client: Client) -> None:
    """Refuse a model the server does not offer, before anything is sent (a ValueError
    naming the models it lists); a model list that cannot be read is only a warning.

    One call (``GET /language-models``); a second one (``/language-models/{model}``) only
    for a model the list does not name, since a server may take models it does not list.
    """
    from batchframe.errors import (
        APIConnectionError,
        APIStatusError,
        NotFoundError,
        ServerError,
        UnexpectedResponseError,
    )

    unreadable = (NotFoundError, ServerError, APIConnectionError, UnexpectedResponseError)
    try:
        models = client.list_language_models()
    except (*unreadable, ValueError) as exc:  # an old server, a proxy, no such route
        logger.warning(
            "could not read the model list of %s, so model %r is not checked: %s",
            client.base_url,
            model,
            exc,
        )
        return
    names = {m.id for m in models} | {a for m in models for a in m.aliases}
    if not models or model in names:
        return
    try:
        client.get_language_model(model)
        return
    except NotFoundError:
        pass
    except (*unreadable, APIStatusError, ValueError) as exc:
        logger.warning("could not check model %r on %s: %s", model, client.base_url, exc)
        return
    close = difflib.get_close_matches(model, sorted(names), n=1)
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    listed = ", ".join(m.id for m in models)
    raise ValueError(
        say(
            f"model {model!r} is not one the server at {client.base_url} offers{guess}; "
            f"nothing was sent. It lists: {listed}. Pass one of them as ",
            arg("model"),
            ".",
        )
    )
