"""The columnar encoder against a slow, obviously correct reference (one dict per row)."""

from __future__ import annotations

import json
import math

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from batchframe.frame.encode import chunk_bounds, encode_requests, to_requests
from batchframe.frame.escape import json_escape
from batchframe.frame.template import template_columns

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(
    ['","', '\\","\\', '"', "\\", "", "\x00\x1f\x7f", "é\u2028😀", "x" * 5000]
)
ID = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20
)


def reference(ids, texts, model, system=None, **params):
    items = []
    for rid, text in zip(ids, texts, strict=True):
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": text})
        body = {"model": model, "messages": messages, **params}
        items.append({"batch_request_id": rid, "batch_request": {"chat_get_completion": body}})
    return items


def parsed_items(enc):
    return [json.loads(enc.item(i)) for i in range(len(enc))]


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TEXT, min_size=1, max_size=30), st.booleans(), st.booleans())
def test_prompt_matches_reference(texts, arrow, with_system):
    df = pd.DataFrame({"p": pd.Series(texts, dtype="str" if arrow else object)})
    system = 'be "terse"\n' if with_system else None
    enc = encode_requests(df, prompt="p", model="grok-4.3", system=system, temperature=0.5, seed=7)
    expected = reference(
        [str(i) for i in range(len(texts))], texts, "grok-4.3", system, temperature=0.5, seed=7
    )
    assert parsed_items(enc) == expected
    assert json.loads(enc.payload()) == {"batch_requests": expected}
    assert enc.ids == [str(i) for i in range(len(texts))]


@given(st.lists(TEXT, min_size=1, max_size=20))
def test_escape_equals_orjson_and_split_claim(texts):
    assert json_escape(pa.array(texts)).to_pylist() == [
        orjson.dumps(t)[1:-1].decode() for t in texts
    ]
    # the ","-split trick the brief describes: "," never occurs inside an escaped body
    assert orjson.dumps(texts)[2:-2].split(b'","') == [orjson.dumps(t)[1:-1] for t in texts]


@given(st.lists(ID, min_size=1, max_size=20, unique=True))
def test_ids_from_index_and_column(ids):
    df = pd.DataFrame({"p": ["x"] * len(ids), "rid": ids}, index=ids)
    for enc in (
        encode_requests(df, prompt="p", model="m"),
        encode_requests(df, prompt="p", model="m", id_column="rid"),
    ):
        assert [item["batch_request_id"] for item in parsed_items(enc)] == ids
        assert enc.ids == ids


CELL = st.one_of(
    st.integers(-(10**6), 10**6), st.floats(allow_nan=True, allow_infinity=False), st.none(), TEXT
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(-999, 999),
            st.floats(allow_infinity=False),
            TEXT,
            st.sampled_from(["a", "b", None]),
        ),
        min_size=1,
        max_size=15,
    ),
    st.sampled_from(
        [
            "{i}|{f}|{s}",
            "n={i:>5} f={f:.2f} s={s!r} c={c}",
            "{c}{{lit}}{s!s}",
            "{s[0]}",
            "fixed text",
            "{f:{i}}",
            "{i}{i}{c!a}",
        ]
    ),
)
def test_template_equals_str_format(rows, template):
    df = pd.DataFrame(rows, columns=["i", "f", "s", "c"])
    df["c"] = df["c"].astype("category")
    if template == "{s[0]}":
        df["s"] = df["s"] + "_"
    if template == "{f:{i}}":
        df["i"] = df["i"].abs() % 20
    df["s"] = df["s"].astype("str")
    used = template_columns(template)
    kept = df[~df[used].isna().any(axis=1)] if used else df  # null fields are skipped, not sent
    expected = [
        template.format(**dict(zip(kept.columns, r, strict=True)))
        for r in zip(*(kept[c].tolist() for c in kept.columns), strict=True)
    ]
    if len(kept) == 0:
        return
    enc = encode_requests(df, template=template, model="m", on_null="skip")
    got = [
        item["batch_request"]["chat_get_completion"]["messages"][0]["content"]
        for item in parsed_items(enc)
    ]
    assert got == expected


NULL_FIELDS = pd.DataFrame(
    {
        "a": [None, "x", "y", "z"],
        "b": [1.0, math.nan, 2.0, 3.0],
        "n": pd.array([4, 5, pd.NA, 6], dtype="Int64"),
    },
    index=["r0", "r1", "r2", "r3"],
)


def test_a_null_template_field_is_an_error_naming_the_fields_and_rows():
    """Issue 13 item 6: None, NaN and <NA> were sent as "None", "nan" and "<NA>"."""
    with pytest.raises(ValueError) as caught:
        to_requests(NULL_FIELDS, template="{a} {b} {n}", model="m")
    text = str(caught.value)
    for named in ("{a}", "{b}", "{n}", "'r0'", "'r1'", "'r2'", "on_null='skip'", "fillna"):
        assert named in text, text
    assert "'r3'" not in text


def test_on_null_skip_leaves_out_rows_with_a_null_template_field():
    out = to_requests(NULL_FIELDS, template="{a} {b} {n}", model="m", on_null="skip")
    contents = [
        json.loads(b)["batch_request"]["chat_get_completion"]["messages"][0]["content"]
        for b in out["body"]
    ]
    assert list(out["batch_request_id"]) == ["r3"] and contents == ["z 3.0 6"]
    for text in ("nan", "None", "<NA>"):
        assert text not in "".join(out["body"])
    nested = to_requests(
        pd.DataFrame({"x": [1.5, 2.5], "w": [8.0, math.nan]}), template="{x:{w}}", model="m",
        on_null="skip",
    )  # fmt: skip
    assert list(nested["batch_request_id"]) == ["0"]  # a field nested in a spec counts too


def test_arrow_nan_and_null_in_a_template_field_are_nulls():
    table = pa.table({"q": ["a", "b", "c"], "x": pa.array([1.0, float("nan"), None])})
    out = to_requests(table, template="{q}={x}", model="m", on_null="skip")
    assert list(out["batch_request_id"]) == ["0"]
    with pytest.raises(ValueError, match=r"\{x\}.*'1', '2'"):
        to_requests(table, template="{q}={x}", model="m")


def test_messages_column_and_json_strings():
    msgs = [
        [{"role": "user", "content": "hi"}],
        '[{"role":"user","content":[{"type":"text","text":"yo"}]}]',
    ]
    enc = encode_requests(
        pd.DataFrame({"m": msgs}), messages="m", system="s", model="m", max_tokens=5
    )
    bodies = [i["batch_request"]["chat_get_completion"] for i in parsed_items(enc)]
    assert bodies[0] == {
        "model": "m",
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}],
        "max_tokens": 5,
    }
    assert bodies[1]["messages"][1]["content"] == [{"type": "text", "text": "yo"}]


def test_response_model_sets_strict_schema():
    class Out(BaseModel):
        label: str

    enc = encode_requests(pd.DataFrame({"p": ["x"]}), prompt="p", model="m", response_model=Out)
    fmt = parsed_items(enc)[0]["batch_request"]["chat_get_completion"]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    with pytest.raises(ValueError, match="not both"):
        encode_requests(
            pd.DataFrame({"p": ["x"]}),
            prompt="p",
            model="m",
            response_model=Out,
            response_format={"type": "json_object"},
        )


@pytest.mark.parametrize(
    ("frame", "kwargs", "match"),
    [
        (pd.DataFrame({"p": ["a"]}), {"prompt": "q"}, r"'q'.*available columns: \['p'\]"),
        (pd.DataFrame({"p": []}), {"prompt": "p"}, "empty"),
        (pd.DataFrame({"p": ["a", "b"]}, index=["x", "x"]), {"prompt": "p"}, "repeats 'x'"),
        (pd.DataFrame({"p": ["a"], "r": [None]}), {"prompt": "p", "id_column": "r"}, "null"),
        (pd.DataFrame({"p": ["a"]}, index=["z" * 300]), {"prompt": "p"}, "at most 256"),
        (pd.DataFrame({"p": ["a"]}, index=["tab\there"]), {"prompt": "p"}, "'tab\\\\there'"),
        (pd.DataFrame({"p": ["a"]}, index=["é"]), {"prompt": "p"}, "printable ASCII.*'é'"),
        (pd.DataFrame({"p": ["a"]}, index=[" pad"]), {"prompt": "p"}, "whitespace.*' pad'"),
        (pd.DataFrame({"p": ["a", None]}, index=["k", "nul"]), {"prompt": "p"}, "'nul'.*on_null"),
        (pd.DataFrame({"p": ["a", 3]}, index=["k", "num"]), {"prompt": "p"}, "num: 3"),
        (pd.DataFrame({"p": [1.5]}), {"prompt": "p"}, "must hold text"),
        (pd.DataFrame({"p": ["a"]}), {"template": "{nope}"}, "'nope'"),
        (pd.DataFrame({"p": ["a"]}), {"template": "{p"}, "malformed"),
        (pd.DataFrame({"p": ["a"]}), {"template": "{0}"}, "positional"),
        (pd.DataFrame({"m": ["[{}]"]}, index=["bad"]), {"messages": "m"}, "row 'bad'"),
        (pd.DataFrame({"m": ["{"]}, index=["j"]), {"messages": "m"}, "row 'j'.*JSON"),
        (pd.DataFrame({"p": ["a"]}), {"prompt": "p", "stream": True}, "stream"),
        (pd.DataFrame({"p": ["a"]}), {"prompt": "p", "messages": "p"}, "exactly one"),
        (pd.DataFrame({"p": ["a"]}), {}, "exactly one.*none"),
        (pd.DataFrame({"p": ["a"]}), {"prompt": "p", "on_null": "drop"}, "on_null"),
    ],
)
def test_validation_errors_name_the_values(frame, kwargs, match):
    kwargs.setdefault("model", "m")
    with pytest.raises(ValueError, match=match):
        encode_requests(frame, **kwargs)


def test_empty_model_and_oversize_rows():
    df = pd.DataFrame({"p": ["a", "b" * 500]}, index=["small", "big"])
    with pytest.raises(ValueError, match="model"):
        encode_requests(df, prompt="p", model="")
    with pytest.raises(ValueError, match=r"big \(\d+ bytes\)"):
        encode_requests(df, prompt="p", model="m", max_request_bytes=400)


def test_on_null_skip_lists_skipped_and_positions():
    df = pd.DataFrame({"p": ["a", None, "c"]}, index=["r0", "r1", "r2"])
    enc = encode_requests(df, prompt="p", model="m", on_null="skip")
    assert enc.ids == ["r0", "r2"] and enc.skipped_ids == ["r1"]
    assert [r for p in enc.parts for r in p.rows.tolist()] == [0, 2]
    out = to_requests(df, prompt="p", model="m", on_null="skip")
    assert out.index.tolist() == ["r0", "r2"] and str(out["body"].dtype) == "string"
    assert [json.loads(b) for b in out["body"]] == parsed_items(enc)


@given(st.lists(TEXT, min_size=1, max_size=25), st.data())
def test_payload_slices_and_subsets(texts, data):
    enc = encode_requests(pd.DataFrame({"p": texts}), prompt="p", model="m")
    items = parsed_items(enc)
    start = data.draw(st.integers(0, len(texts)))
    stop = data.draw(st.integers(start, len(texts)))
    assert json.loads(enc.payload(start, stop)) == {"batch_requests": items[start:stop]}
    picked = data.draw(st.lists(st.integers(0, len(texts) - 1), unique=True))
    assert json.loads(enc.payload_for(picked)) == {"batch_requests": [items[i] for i in picked]}
    assert enc.item_sizes().tolist() == [len(enc.item(i)) for i in range(len(enc))]
    (part,) = enc.parts
    assert bytes(part.data[-1:]) == b"," and part.offsets[-1] == len(part.data)


def test_fingerprint_is_stable_and_sensitive():
    df = pd.DataFrame({"p": ["a", "b"]})
    a = encode_requests(df, prompt="p", model="m").fingerprint()
    assert a == encode_requests(df, prompt="p", model="m").fingerprint()
    assert a != encode_requests(df, prompt="p", model="m", temperature=0).fingerprint()


@given(
    st.lists(st.integers(1, 300), min_size=0, max_size=60), st.integers(1, 10), st.integers(1, 2000)
)
def test_chunk_bounds_respects_both_limits(sizes, max_rows, max_bytes):
    bounds = chunk_bounds(np.array(sizes), max_rows, max_bytes)
    covered = [i for a, b in bounds for i in range(a, b)]
    assert covered == list(range(len(sizes)))
    for a, b in bounds:
        payload = len(b'{"batch_requests":[]}') + sum(sizes[a:b]) + (b - a - 1)
        assert 0 < b - a <= max_rows
        assert payload <= max_bytes or b - a == 1
    for a, b in bounds[:-1]:
        # greedy: the next item would not have fitted
        grown = len(b'{"batch_requests":[]}') + sum(sizes[a : b + 1]) + (b - a)
        assert b - a == max_rows or grown > max_bytes


@settings(max_examples=30)
@given(st.lists(st.one_of(st.none(), TEXT), min_size=1, max_size=10))
def test_template_over_every_string_dtype(values):
    for dtype in (object, "str", pd.StringDtype(), pd.ArrowDtype(pa.string())):
        df = pd.DataFrame({"s": pd.Series(values, dtype=dtype)})
        expected = [f"<{v}>" for v in df["s"].dropna().tolist()]  # null cells are skipped
        if not expected:
            continue
        got = [
            json.loads(b)["batch_request"]["chat_get_completion"]["messages"][0]["content"]
            for b in to_requests(df, template="<{s}>", model="m", on_null="skip")["body"]
        ]
        assert got == expected


def test_none_params_are_left_out_and_numpy_params_serialise():
    enc = encode_requests(
        pd.DataFrame({"p": ["x"]}), prompt="p", model="m", seed=np.int64(3), top_p=None
    )
    body = parsed_items(enc)[0]["batch_request"]["chat_get_completion"]
    assert body["seed"] == 3 and "top_p" not in body


def test_escape_across_many_chunks():
    rng = np.random.default_rng(1)
    alphabet = np.array([*'ab "\\\n\té', "\x01"])
    for with_rare in (False, True):
        pool = alphabet if with_rare else alphabet[:-1]
        texts = ["".join(rng.choice(pool, size=int(n))) for n in rng.integers(0, 900, 3000)]
        got = json_escape(pa.array(texts)).to_pylist()
        assert got == [orjson.dumps(t)[1:-1].decode() for t in texts]


@pytest.mark.parametrize(
    "index",
    [
        pd.Index([1, "1"], dtype=object),  # unique labels whose strings collide
        pd.Index([7, 7]),
        pd.Index(["a", "a"]),
    ],
    ids=["int-and-str", "ints", "strings"],
)
def test_ids_that_collide_as_strings_are_refused(index: pd.Index) -> None:
    df = pd.DataFrame({"q": ["x", "y"]}, index=index)
    with pytest.raises(ValueError, match="unique"):
        encode_requests(df, prompt="q", model="grok-4.3")
