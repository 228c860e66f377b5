"""A real model behind the local server: batchframe -> the local batch server -> llama.cpp.

llama.cpp (llama-cpp-python's server) runs Gemma 3 270M on loopback. The model is tiny and weak:
these tests check what is real (its own text and token counts, every row answered once, a
structured answer that parses, a cancel mid-run), not how good its answers are. They never skip:
without llama.cpp or the model they fail, saying how to install them. They share one llama.cpp
server, and the ``llama`` xdist group keeps them (and notebook 02, which starts its own) on one
worker, so only one runs at a time.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Iterator
from typing import Literal

import httpx
import pandas as pd
import pydantic
import pytest

import batchframe as bf
from batchframe.server.llama import MODEL, LlamaServer, LlamaUnavailable

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("llama")]

REVIEWS = pathlib.Path(__file__).resolve().parents[2] / "examples" / "reviews.csv"
PROMPT = (
    "Classify the sentiment of this review as positive, negative or neutral. "
    "Answer with one word.\nReview: {text}"
)


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    server = LlamaServer(log=tmp_path_factory.mktemp("llama") / "llama.log")
    try:
        server.start()
    except LlamaUnavailable as exc:
        pytest.fail(f"the real-model tests need llama.cpp and the model: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client(llama: LlamaServer) -> Iterator[bf.Client]:
    options = {"upstream_concurrency": 2, "upstream_timeout": 120.0}
    with (
        bf.serve(upstream=llama.base_url, model_map={"*": MODEL}, **options) as handle,
        bf.Client(api_key="local", base_url=handle.base_url) as client,
    ):
        yield client


@pytest.fixture
def reviews() -> pd.DataFrame:
    return pd.read_csv(REVIEWS).head(20)


def submit(client: bf.Client, df: pd.DataFrame, name: str, **params: object) -> bf.Job:
    return bf.submit(
        df,
        template=PROMPT,
        model="grok-4.3",
        id_column="review_id",
        name=name,
        client=client,
        progress=False,
        temperature=0,
        **params,  # type: ignore[arg-type]
    )


def tokens_of(llama: LlamaServer, text: str) -> int:
    """How many tokens llama.cpp's own tokenizer makes of ``text`` (without the BOS token)."""
    url = llama.base_url.removesuffix("/v1") + "/extras/tokenize"
    return len(httpx.post(url, json={"input": text}, timeout=30).json()["tokens"]) - 1


def test_twenty_reviews_get_real_text_and_real_token_counts(
    client: bf.Client, llama: LlamaServer, reviews: pd.DataFrame, tmp_path: pathlib.Path
) -> None:
    job = submit(client, reviews, "llama-reviews", max_tokens=8)
    batch = job.wait(progress=False)
    out = job.results()
    assert (batch.num_requests, batch.num_success) == (20, 20)
    assert list(out["review_id"]) == list(reviews["review_id"])  # every row, once, in order
    assert out["batch_request_id"].is_unique
    assert (out["state"] == "succeeded").all(), out[["state", "error"]]
    assert out["content"].str.strip().str.len().gt(0).all()
    assert (out["model"] == MODEL).all()
    assert out["prompt_tokens"].gt(out["text"].str.len() // 8).all()
    assert out["completion_tokens"].between(1, 8).all()
    assert (out["total_tokens"] == out["prompt_tokens"] + out["completion_tokens"]).all()
    assert (out["cost_usd"] == 0).all()  # a self-hosted model, unpriced
    for content, used in zip(out["content"][:5], out["completion_tokens"][:5], strict=True):
        assert abs(tokens_of(llama, content) - used) <= 2  # the model's own count
    assert not (out["content"] == out["text"]).any()  # not the simulator's echo


class Verdict(pydantic.BaseModel):
    sentiment: Literal["positive", "negative", "neutral"]


def test_a_structured_output_request_comes_back_parsed(
    client: bf.Client, reviews: pd.DataFrame
) -> None:
    job = submit(client, reviews.head(4), "llama-structured", response_model=Verdict, max_tokens=24)
    job.wait(progress=False)
    out = job.results()
    assert (out["state"] == "succeeded").all(), out[["state", "error"]]
    assert out["parse_error"].isna().all(), out[["content", "parse_error"]]
    assert set(out["sentiment"]) <= {"positive", "negative", "neutral"}


def test_a_cancel_mid_run_keeps_finished_answers_and_cancels_the_rest(
    client: bf.Client, reviews: pd.DataFrame
) -> None:
    job = submit(client, reviews, "llama-cancel", max_tokens=32)
    deadline = time.monotonic() + 120
    while job.refresh().num_success < 2:
        assert time.monotonic() < deadline, "llama.cpp answered nothing"
        time.sleep(0.05)
    at_cancel = job.cancel()
    final = job.wait(progress=False)
    out = job.results()
    assert at_cancel.cancel_time is not None
    # What was in flight (at most the 2 calls at once) finished; nothing new started.
    assert at_cancel.num_success <= final.num_success <= at_cancel.num_success + 2
    assert final.num_success + final.num_cancelled == 20 and final.num_error == 0
    assert final.num_cancelled > 0
    assert list(out["review_id"]) == list(reviews["review_id"])
    done = out[out["state"] == "succeeded"]
    assert done["content"].str.len().gt(0).all() and done["completion_tokens"].gt(0).all()
    assert set(out.loc[out["state"] == "cancelled", "error"]) == {"Batch cancelled"}
