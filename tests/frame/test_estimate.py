"""``bf.estimate`` and ``max_cost_usd`` against the real local server's tokenizer and prices."""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd
import pytest

import batchframe as bf
from batchframe.client import Client
from batchframe.frame.estimate import usd
from batchframe.server.app import BatchServer

MODEL = "grok-4.3"
WORDS = "the quick brown fox jumps over a lazy dog while internationalization happens, again!"


def frame(n: int, start: int = 0) -> pd.DataFrame:
    texts = [
        " ".join(WORDS.split()[: 3 + (i * 7) % 12]) + f" #{i}" for i in range(start, start + n)
    ]
    return pd.DataFrame({"text": texts, "topic": [f"t{i % 5}" for i in range(n)]})


def actual(client: Client, df: pd.DataFrame, **kw: Any) -> tuple[pd.DataFrame, bf.Job]:
    job = bf.submit(df, model=MODEL, client=client, progress=False, cache=False, **kw)
    job.wait(progress=False)
    return job.results(), job


CASES: list[dict[str, Any]] = [
    {"prompt": "text", "max_tokens": 4},
    {"prompt": "text", "max_tokens": 50, "system": "You are terse. Answer in one word."},
    {"template": "Topic {topic}: {text}", "max_completion_tokens": 3, "reasoning_effort": "high"},
    {"prompt": "text", "max_tokens": 2, "reasoning_effort": "surprise-me"},
]


@pytest.mark.parametrize("case", CASES)
def test_the_upper_bound_is_never_below_the_actual_cost(
    client: Client, case: dict[str, Any]
) -> None:
    df = frame(40)
    est = bf.estimate(df, model=MODEL, client=client, cache=False, sample=7, **case)
    assert est.sample_size == 7 < est.requests == 40 and est.heuristic == ()
    out, job = actual(client, df, **case)
    assert est.cost_usd_max is not None
    assert job.cost().cost_usd <= est.cost_usd_max
    assert out["prompt_tokens"].sum() <= est.prompt_tokens_max
    assert out["completion_tokens"].sum() <= (est.max_completion_tokens or 0)


@pytest.mark.parametrize("case", CASES)
def test_a_small_job_is_tokenized_whole_and_its_prompt_tokens_are_exact(
    client: Client, case: dict[str, Any]
) -> None:
    df = frame(25)
    est = bf.estimate(df, model=MODEL, client=client, cache=False, **case)
    out, _ = actual(client, df, **case)
    assert est.exact_prompt_tokens and est.prompt_tokens == out["prompt_tokens"].sum()
    assert est.reasoning_tokens == out["reasoning_tokens"].sum()
    assert est.prices is not None and est.prices["source"] == "server"
    assert est.prices["prompt_text_token_price"] == 12_500 and est.prices["batch_discount"] == 0.2


def test_messages_are_counted_message_by_message(client: Client) -> None:
    msgs = [
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}],
        [{"role": "user", "content": [{"type": "text", "text": "Parts, "}, {"type": "text",
                                                                            "text": "joined"}]}],
    ]  # fmt: skip
    df = pd.DataFrame({"m": msgs})
    est = bf.estimate(df, messages="m", model=MODEL, client=client, cache=False, max_tokens=9)
    out, job = actual(client, df, messages="m", max_tokens=9)
    assert est.prompt_tokens == out["prompt_tokens"].sum()
    assert job.cost().cost_usd <= (est.cost_usd_max or 0)


def test_a_sampled_estimate_is_close_and_names_its_sample(client: Client) -> None:
    df = frame(600)
    est = bf.estimate(df, prompt="text", model=MODEL, client=client, cache=False, sample=60)
    out, _ = actual(client, df, prompt="text")
    true = out["prompt_tokens"].sum()
    assert est.sample_size == 60 and not est.exact_prompt_tokens
    assert abs(est.prompt_tokens - true) / true < 0.05
    assert "60 requests tokenized" in str(est)


def test_dedup_and_the_cache_are_counted_before_sending(client: Client) -> None:
    df = pd.concat([frame(10), frame(10)], ignore_index=True)
    est = bf.estimate(df, prompt="text", model=MODEL, client=client)
    assert (est.rows, est.requests, est.duplicates, est.cached) == (20, 10, 10, 0)
    job = bf.submit(frame(10), prompt="text", model=MODEL, client=client, progress=False)
    job.wait(progress=False)
    job.results()  # stores the answers
    est = bf.estimate(df, prompt="text", model=MODEL, client=client)
    assert (est.requests, est.duplicates, est.cached, est.cost_usd) == (0, 0, 20, 0.0)


def test_the_cap_refuses_before_any_batch_exists(client: Client) -> None:
    df = frame(30)
    with pytest.raises(bf.CostLimitError, match=r"max_cost_usd=") as info:
        bf.submit(df, prompt="text", model=MODEL, client=client, max_cost_usd=1e-9)
    assert list(client.iter_batches()) == []
    assert isinstance(info.value.estimate, bf.Estimate) and info.value.cap == 1e-9
    assert "Nothing was sent" in str(info.value)
    job = bf.submit(
        df, prompt="text", model=MODEL, client=client, max_cost_usd=10.0, progress=False
    )
    assert len(list(client.iter_batches())) == 1 and job.estimate is not None


@pytest.mark.parametrize("cap", [-1, "5", float("nan"), True])
def test_a_bad_cap_is_a_value_error_before_anything_is_sent(client: Client, cap: Any) -> None:
    with pytest.raises(ValueError, match="max_cost_usd must be"):
        bf.submit(frame(3), prompt="text", model=MODEL, client=client, max_cost_usd=cap)
    assert list(client.iter_batches()) == []


def test_a_model_the_price_list_does_not_know(client: Client, batch_server: BatchServer) -> None:
    est = bf.estimate(frame(3), prompt="text", model="grok-unknown", client=client, cache=False)
    assert est.cost_usd is None and est.prices is None
    assert any("does not know model 'grok-unknown'" in n for n in est.notes)
    est = bf.estimate(frame(3), prompt="text", model="grok-unknown", client=client,
                      prices=(1.0, 2.0), max_tokens=5)  # fmt: skip
    assert est.prices is not None and est.prices["completion_text_token_price"] == 20_000
    assert est.prices["batch_discount"] == 0.0 and est.cost_usd is not None
    # A server without a model list cannot refuse the model; then the cap needs prices=.
    inner = batch_server.transport()

    def handler(request: httpx.Request) -> httpx.Response:
        if "/language-models" in request.url.path:
            return httpx.Response(404, json={"code": "Not found", "error": "no such route"})
        return inner.handle_request(request)

    with Client(api_key="k", base_url="http://localhost/v1", transport=httpx.MockTransport(handler),
                max_retries=0) as bare:  # fmt: skip
        with pytest.raises(bf.CostLimitError, match="prices="):
            bf.submit(frame(3), prompt="text", model="grok-custom", client=bare, max_cost_usd=5)
        assert list(bare.iter_batches()) == []


def test_the_discount_is_configurable(client: Client) -> None:
    full = bf.estimate(frame(5), prompt="text", model=MODEL, client=client, batch_discount=0.0)
    cut = bf.estimate(frame(5), prompt="text", model=MODEL, client=client)
    assert cut.cost_usd == pytest.approx((full.cost_usd or 0) * 0.8)


def test_offline_the_estimate_says_which_figures_are_heuristic() -> None:
    with Client(api_key="k", base_url="http://127.0.0.1:9/v1", max_retries=0) as offline:
        est = bf.estimate(frame(8), prompt="text", model=MODEL, client=offline, cache=False,
                          max_tokens=10)  # fmt: skip
    assert {"prompt_tokens", "prices", "cost_usd"} <= set(est.heuristic)
    assert est.sample_size == 0 and est.cost_usd is not None and est.cost_usd_max is not None
    frame_view = est.to_frame()
    assert bool(frame_view.loc["prompt_tokens", "heuristic"]) is True
    assert bool(frame_view.loc["requests", "heuristic"]) is False
    assert "heuristic" in est._repr_html_()


def test_a_missing_tokenizer_endpoint_falls_back_for_tokens_only(batch_server: BatchServer) -> None:
    inner = batch_server.transport()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tokenize-text"):
            return httpx.Response(404, json={"code": "Not found", "error": "no such route"})
        return inner.handle_request(request)

    with Client(api_key="k", base_url="http://localhost/v1", transport=httpx.MockTransport(handler),
                max_retries=0) as c:  # fmt: skip
        est = bf.estimate(frame(8), prompt="text", model=MODEL, client=c, cache=False)
    assert est.heuristic == ("prompt_tokens", "cost_usd", "cost_usd_max")
    assert est.prices is not None and est.prices["source"] == "server"


def test_a_reasoning_model_without_an_effort_has_no_upper_bound(client: Client) -> None:
    est = bf.estimate(frame(4), prompt="text", model="grok-4.20-0309-reasoning", client=client,
                      max_tokens=5)  # fmt: skip
    assert est.cost_usd_max is None and any("reasoning_tokens=" in n for n in est.notes)
    bounded = bf.estimate(frame(4), prompt="text", model="grok-4.20-0309-reasoning",
                          client=client, max_tokens=5, reasoning_tokens=100)  # fmt: skip
    assert bounded.cost_usd_max is not None


def test_no_max_tokens_means_no_upper_bound(client: Client) -> None:
    est = bf.estimate(frame(4), prompt="text", model=MODEL, client=client)
    assert est.max_completion_tokens is None and est.cost_usd_max is None
    assert est.completion_tokens == 4 * 256


def test_the_wait_bar_shows_the_estimated_spend(
    client: Client, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BATCHFRAME_DISABLE_PROGRESS", raising=False)
    job = bf.submit(frame(20), prompt="text", model=MODEL, client=client, progress=False)
    assert job.estimate is not None and "prompt_tokens" in job.estimate.heuristic
    capped = bf.submit(frame(20, start=50), prompt="text", model=MODEL, client=client,
                       progress=False, max_cost_usd=1.0)  # fmt: skip
    assert capped.estimate is not None and capped.estimate.heuristic == ()
    capfd.readouterr()
    capped.wait(progress=True)
    assert f"spent~{usd(capped.estimate.cost_usd or 0)}" in capfd.readouterr().err
