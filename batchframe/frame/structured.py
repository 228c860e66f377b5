"""Structured output: a pydantic model as a strict ``response_format``, and content parsing.

>>> from pydantic import BaseModel
>>> class Verdict(BaseModel):
...     label: str
...     score: float
>>> response_format_for(Verdict)["json_schema"]["schema"]["required"]
['label', 'score']
"""

from __future__ import annotations

import enum
import re
import types
import typing
from typing import Any

import pandas as pd
from pydantic import BaseModel, ValidationError

__all__ = ["column_dtype", "parse_structured", "response_format_for"]


def _strict(node: Any) -> Any:
    """Make a JSON schema strict: closed objects whose properties are all required."""
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items()}
    if out.get("type") == "object" or "properties" in out:
        properties = out.get("properties", {})
        out["additionalProperties"] = False
        out["required"] = list(properties)
    return out


def response_format_for(model_cls: type[BaseModel]) -> dict[str, Any]:
    """The ``response_format`` asking for JSON that validates against ``model_cls``."""
    if not (isinstance(model_cls, type) and issubclass(model_cls, BaseModel)):
        raise ValueError(f"response_model must be a pydantic BaseModel subclass, got {model_cls!r}")
    name = re.sub(r"[^A-Za-z0-9_-]", "_", model_cls.__name__)[:64] or "response"
    return {
        "type": "json_schema",
        "json_schema": {
            "name": name,
            "schema": _strict(model_cls.model_json_schema()),
            "strict": True,
        },
    }


def column_dtype(annotation: Any) -> str:
    """The pandas dtype of a field's column: Int64, Float64, boolean, string or object."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return column_dtype(args[0])
    if origin is typing.Literal:
        return "string" if all(isinstance(a, str) for a in args) else "object"
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "Int64"
    if annotation is float:
        return "Float64"
    if annotation is str or (isinstance(annotation, type) and issubclass(annotation, enum.Enum)):
        return "string"
    return "object"


def _cell(value: Any, dtype: str) -> Any:
    if dtype == "string" and isinstance(value, enum.Enum):
        return str(value.value)
    return value


def _range_error(parsed: BaseModel, dtypes: dict[str, str]) -> str | None:
    """Which ``int`` fields hold a value outside the Int64 range, as a parse error."""
    bad = [
        name
        for name, dtype in dtypes.items()
        if dtype == "Int64"
        and isinstance(value := getattr(parsed, name), int)
        and not -(2**63) <= value < 2**63
    ]
    return f"{', '.join(bad)}: outside the Int64 range" if bad else None


def parse_structured(content: pd.Series, model_cls: type[BaseModel]) -> pd.DataFrame:
    """One column per model field parsed from ``content``, plus ``parse_error``; never raises.

    Null content (a failed row) gives nulls and no parse error; content that does not validate
    gives nulls and the validation message in ``parse_error``.

    >>> from pydantic import BaseModel
    >>> class P(BaseModel):
    ...     n: int
    >>> parse_structured(pd.Series(['{"n": 3}', "oops", None]), P)["n"].tolist()
    [3, <NA>, <NA>]
    """
    fields = model_cls.model_fields
    dtypes = {name: column_dtype(info.annotation) for name, info in fields.items()}
    columns: dict[str, list[Any]] = {name: [] for name in fields}
    errors: list[str | None] = []
    for text in content.tolist():
        parsed: BaseModel | None = None
        error: str | None = None
        if isinstance(text, str):
            try:
                parsed = model_cls.model_validate_json(text)
            except ValidationError as exc:
                error = str(exc)
        if parsed is not None and (error := _range_error(parsed, dtypes)) is not None:
            parsed = None  # an Int64 column cannot hold it: a parse error, not an exception
        for name in fields:
            value = getattr(parsed, name) if parsed is not None else None
            columns[name].append(_cell(value, dtypes[name]))
        errors.append(error)
    frame = pd.DataFrame(
        {
            name: pd.Series(values, dtype=dtypes[name], index=content.index)
            for name, values in columns.items()
        },
        index=content.index,
    )
    frame["parse_error"] = pd.Series(errors, dtype=pd.StringDtype(), index=content.index)
    return frame
