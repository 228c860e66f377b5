"""Against the real api.x.ai: run only when XAI_API_KEY is set (DESIGN section 7).

Small and cheap on purpose: two rows, a few output tokens. The same assertions the local server
suite makes, so a drift between the local server and the real API shows up here first.
"""

from __future__ import annotations

import os

import pandas as pd
import pytest

import batchframe as bf

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("XAI_API_KEY"), reason="needs XAI_API_KEY (api.x.ai)"),
]

MODEL = os.environ.get("BATCHFRAME_LIVE_MODEL", "grok-4.3")


def test_two_rows_round_trip_on_the_real_api() -> None:
    df = pd.DataFrame(
        {"question": ["Reply with the single word: apple", "Reply with the single word: pear"]},
        index=["live-a", "live-b"],
    )
    with bf.Client() as client:
        job = bf.submit(
            df, prompt="question", model=MODEL, client=client, max_tokens=16, progress=False
        )
        try:
            job.wait(timeout=1800, progress=False)
        except bf.WaitTimeoutError:
            job.cancel()
            raise
        out = job.results()
    assert list(out.index) == ["live-a", "live-b"]
    assert out["batch_request_id"].tolist() == ["live-a", "live-b"]
    assert set(out["state"]) <= {"succeeded", "failed"}
    done = out[out["state"] == "succeeded"]
    assert len(done) >= 1
    assert (done["prompt_tokens"] > 0).all() and done["content"].notna().all()
    assert (done["cost_usd"].fillna(0) >= 0).all()


def test_bad_key_is_a_400_with_no_key_in_the_message() -> None:
    key = "xai-definitely-not-a-real-key-000000000000"
    with bf.Client(api_key=key, max_retries=0) as client, pytest.raises(bf.APIStatusError) as err:
        client.list_batches(limit=1)
    assert err.value.status_code in (400, 401)
    assert key not in str(err.value)
