"""Structured output: strict schemas and never-raising content parsing."""

from __future__ import annotations

import enum
from typing import Literal

import pandas as pd
import pytest
from pydantic import BaseModel

from batchframe.frame.structured import parse_structured, response_format_for


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Inner(BaseModel):
    note: str


class Review(BaseModel):
    label: Literal["pos", "neg"]
    score: float
    stars: int
    ok: bool
    colour: Colour
    tags: list[str]
    inner: Inner
    maybe: int | None = None


def test_response_format_is_strict_everywhere():
    fmt = response_format_for(Review)
    assert fmt["type"] == "json_schema"
    spec = fmt["json_schema"]
    assert spec["name"] == "Review" and spec["strict"] is True
    schema = spec["schema"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == list(Review.model_fields)
    inner = schema["$defs"]["Inner"]
    assert inner["additionalProperties"] is False and inner["required"] == ["note"]


def test_parse_valid_invalid_and_null():
    good = (
        '{"label":"pos","score":0.5,"stars":4,"ok":true,"colour":"red","tags":["a"],'
        '"inner":{"note":"n"},"maybe":null}'
    )
    content = pd.Series(
        [good, '{"label":"meh"}', "not json", None], index=["a", "b", "c", "d"], dtype="string"
    )
    out = parse_structured(content, Review)
    assert out.index.tolist() == ["a", "b", "c", "d"]
    assert list(out.columns) == [*Review.model_fields, "parse_error"]
    assert {c: str(out[c].dtype) for c in ("label", "score", "stars", "ok", "colour", "tags")} == {
        "label": "string",
        "score": "Float64",
        "stars": "Int64",
        "ok": "boolean",
        "colour": "string",
        "tags": "object",
    }
    row = out.loc["a"]
    assert (row["label"], row["score"], row["stars"], row["ok"], row["colour"]) == (
        "pos",
        0.5,
        4,
        True,
        "red",
    )
    assert row["tags"] == ["a"] and row["inner"] == Inner(note="n")
    assert pd.isna(row["parse_error"])
    for key in ("b", "c"):
        assert out.loc[key, "parse_error"] and pd.isna(out.loc[key, "stars"])
    assert "label" in out.loc["b", "parse_error"]
    assert pd.isna(out.loc["d", "parse_error"]) and pd.isna(out.loc["d", "label"])


def test_not_a_model_is_a_value_error():
    import pytest

    with pytest.raises(ValueError, match="BaseModel"):
        response_format_for(dict)  # type: ignore[arg-type]


def test_field_names_that_would_overwrite_columns_are_refused_before_sending() -> None:
    from pydantic import BaseModel

    from batchframe.frame.encode import encode_requests

    class Label(BaseModel):
        label: str

    class Content(BaseModel):
        content: str

    df = pd.DataFrame({"text": ["a"], "label": ["positive"]})
    with pytest.raises(ValueError, match=r"'label'.*input columns"):
        encode_requests(df, prompt="text", model="grok-4.3", response_model=Label)
    with pytest.raises(ValueError, match=r"'content'.*result columns"):
        encode_requests(df, prompt="text", model="grok-4.3", response_model=Content)
    assert (
        len(
            encode_requests(
                df.drop(columns="label"), prompt="text", model="m", response_model=Label
            )
        )
        == 1
    )
