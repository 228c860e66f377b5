"""The baseline: what a user writes from the xAI Batch API docs, without batchframe.

Honest and simple, not a straw man: one dict per row built from the columns (no ``iterrows``),
``json.dumps`` per chunk of 10,000 requests, one ``httpx.Client`` (keep-alive) posting the chunks
to ``/v1/batches/{id}/requests`` in a loop, polling the batch, then a loop over result pages with
``json.loads``, one flat dict per result, ``pd.DataFrame`` from the list, and ``merge`` on the ID.

>>> reqs = build_requests(pd.DataFrame({"id": ["a"], "prompt": ["hi"]}), "grok-4.3")
>>> reqs[0]["batch_request_id"], reqs[0]["batch_request"]["chat_get_completion"]["model"]
('a', 'grok-4.3')
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pandas as pd

__all__ = ["build_requests", "encode_chunks", "fetch_results", "results", "submit"]

CHUNK = 10_000
PAGE = 1000


def build_requests(df: pd.DataFrame, model: str) -> list[dict[str, Any]]:
    """One request dict per row, in the shape the docs show."""
    return [
        {
            "batch_request_id": str(row_id),
            "batch_request": {
                "chat_get_completion": {
                    "model": model,
                    "messages": [{"role": "user", "content": prompt}],
                }
            },
        }
        for row_id, prompt in zip(df["id"], df["prompt"], strict=True)
    ]


def encode_chunks(requests: list[dict[str, Any]], chunk: int = CHUNK) -> list[str]:
    """The add-requests bodies, ``json.dumps`` of each chunk of ``chunk`` requests."""
    return [
        json.dumps({"batch_requests": requests[i : i + chunk]})
        for i in range(0, len(requests), chunk)
    ]


def _http(base_url: str, api_key: str) -> httpx.Client:
    return httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=120
    )


def submit(df: pd.DataFrame, base_url: str, api_key: str, model: str, chunk: int = CHUNK) -> str:
    """Create a batch and add one request per row, ``chunk`` requests a call; return its ID."""
    requests = build_requests(df, model)
    with _http(base_url, api_key) as http:
        created = http.post("/batches", json={"name": "baseline"})
        created.raise_for_status()
        batch_id: str = created.json()["batch_id"]
        for i in range(0, len(requests), chunk):
            body = json.dumps({"batch_requests": requests[i : i + chunk]})
            response = http.post(
                f"/batches/{batch_id}/requests",
                content=body,
                headers={"Content-Type": "application/json"},
            )
            response.raise_for_status()
    return batch_id


def wait(base_url: str, api_key: str, batch_id: str, every: float = 1.0) -> dict[str, Any]:
    """Poll the batch until no request is pending."""
    with _http(base_url, api_key) as http:
        while True:
            batch: dict[str, Any] = http.get(f"/batches/{batch_id}").json()
            if batch["state"]["num_pending"] == 0:
                return batch
            time.sleep(every)


def _row(item: dict[str, Any]) -> dict[str, Any]:
    """One result as a flat dict."""
    result = item.get("batch_result") or {}
    row: dict[str, Any] = {"batch_request_id": item["batch_request_id"]}
    if "error" in result:
        row["state"] = "failed"
        row["error"] = result["error"]
        return row
    completion = result["response"]["chat_get_completion"]
    choice = completion["choices"][0]
    usage = completion.get("usage") or {}
    row.update(
        state="succeeded",
        content=choice["message"].get("content"),
        reasoning_content=choice["message"].get("reasoning_content"),
        finish_reason=choice.get("finish_reason"),
        model=completion.get("model"),
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        reasoning_tokens=(usage.get("completion_tokens_details") or {}).get("reasoning_tokens"),
        cached_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens"),
        total_tokens=usage.get("total_tokens"),
        cost_usd=(usage.get("cost_in_usd_ticks") or 0) * 1e-10,
        error=None,
    )
    return row


def fetch_results(base_url: str, api_key: str, batch_id: str) -> pd.DataFrame:
    """Every result page, ``json.loads`` each, one dict per result, one DataFrame."""
    rows: list[dict[str, Any]] = []
    token: str | None = None
    with _http(base_url, api_key) as http:
        while True:
            params: dict[str, Any] = {"limit": PAGE}
            if token:
                params["pagination_token"] = token
            response = http.get(f"/batches/{batch_id}/results", params=params)
            response.raise_for_status()
            page = json.loads(response.text)
            rows.extend(_row(item) for item in page["results"])
            token = page.get("pagination_token")
            if not token:
                break
    return pd.DataFrame(rows)


def results(df: pd.DataFrame, base_url: str, api_key: str, batch_id: str) -> pd.DataFrame:
    """The input frame with the result columns merged on the ID (what ``job.results()`` gives)."""
    wait(base_url, api_key, batch_id)
    out = fetch_results(base_url, api_key, batch_id)
    return df.merge(out, left_on="id", right_on="batch_request_id", how="left")
